// When the upstream's password may be answered (issue 8 item 4): the pure rule, every case.
import { describe, expect, it } from 'vitest';
import { isLocalHost, parseRequireAuth, refusedMethod } from '../../src/pg/auth-policy.js';

describe('isLocalHost', () => {
  it.each([
    ['127.0.0.1', true], ['127.8.9.10', true], ['localhost', true], ['::1', true], ['[::1]', true], ['/var/run/postgresql', true], ['::ffff:127.0.0.1', true],
    ['10.0.0.5', false], ['db.example.com', false], ['128.0.0.1', false], ['::2', false], ['localhost.evil.example', false], ['127.0.0.1.nip.io', false],
  ])('%s → %s', (host, local) => expect(isLocalHost(host)).toBe(local));
});

describe('parseRequireAuth', () => {
  it('a list of methods, repeated ones once', () => {
    expect(parseRequireAuth('password')).toEqual(['password']);
    expect(parseRequireAuth('scram-sha-256, md5,md5')).toEqual(['scram-sha-256', 'md5']);
  });
  it('anything else is an error naming it', () => {
    expect(parseRequireAuth('gss')).toBe('require_auth must list methods among password, md5, scram-sha-256 (got "gss")');
    expect(parseRequireAuth('!password')).toBe('require_auth must list methods among password, md5, scram-sha-256 (got "!password")');
    expect(parseRequireAuth('')).toBe('require_auth must list methods among password, md5, scram-sha-256 (got "")');
  });
});

describe('refusedMethod', () => {
  const remote = { host: 'db.example.com', verified: false };
  it('a remote server without a verified certificate gets no cleartext or MD5 answer', () => {
    expect(refusedMethod(remote, 'password')).toBe(
      'the server asks for the password in the clear, but the connection has no TLS with a verified certificate, so anyone on the path could be asking; use sslmode=verify-full (with sslrootcert), or allow it explicitly with require_auth=password in the upstream URL',
    );
    expect(refusedMethod(remote, 'md5')).toMatch(/^the server asks for an MD5 password hash, but/);
    expect(refusedMethod(remote, 'scram-sha-256')).toBeNull();
  });
  it('verified TLS, or loopback, may answer', () => {
    expect(refusedMethod({ ...remote, verified: true }, 'password')).toBeNull();
    expect(refusedMethod({ host: '127.0.0.1', verified: false }, 'md5')).toBeNull();
  });
  it('require_auth decides alone when given', () => {
    expect(refusedMethod({ ...remote, requireAuth: ['password'] }, 'password')).toBeNull();
    expect(refusedMethod({ ...remote, verified: true, requireAuth: ['scram-sha-256'] }, 'password')).toBe("the upstream URL's require_auth (scram-sha-256) does not allow password");
    expect(refusedMethod({ host: '127.0.0.1', verified: false, requireAuth: ['password'] }, 'scram-sha-256')).toBe("the upstream URL's require_auth (password) does not allow scram-sha-256");
  });
});
