import { describe, expect, it } from 'vitest';
import { ConfigurationError, safeMessage, SafeFailure } from '../../src/action/errors.js';
import { IdentityError } from '../../src/identity/errors.js';
import { PolicyError } from '../../src/policy/errors.js';

describe('safeMessage', () => {
  it('passes our own messages through', () => {
    expect(safeMessage(new ConfigurationError('Input `policy` is required.'))).toBe('Input `policy` is required.');
    expect(safeMessage(new SafeFailure('The proxy did not listen.'))).toBe('The proxy did not listen.');
  });

  it('passes coded errors of the identity and policy modules through', () => {
    expect(safeMessage(new PolicyError('ERR_ROLE_NO_MATCH', 'no role matches'))).toBe('no role matches');
    const identity = Object.create(IdentityError.prototype) as IdentityError;
    Object.assign(identity, { message: 'The OIDC token expired.', code: 'ERR_JWT_EXPIRED' });
    expect(safeMessage(identity)).toBe('The OIDC token expired.');
  });

  it('never shows the text of an unexpected error, which may carry a credential', () => {
    const leaky = new TypeError('connect postgres://app:hunter2@db/x failed');
    expect(safeMessage(leaky)).toBe('internal error (TypeError); rerun with ACTIONS_STEP_DEBUG for details');
    const sys = Object.assign(new Error('getaddrinfo ENOTFOUND db hunter2'), { code: 'ENOTFOUND', syscall: 'getaddrinfo' });
    expect(safeMessage(sys)).toBe('internal error (Error); rerun with ACTIONS_STEP_DEBUG for details');
    expect(safeMessage('hunter2')).toBe('internal error');
  });

  it('removes known secrets even from safe messages', () => {
    expect(safeMessage(new SafeFailure('proxy said: password hunter2 rejected'), ['hunter2'])).toBe('proxy said: password *** rejected');
  });
});

describe('safeMessage and coded errors that are not ours', () => {
  it("never prints a Node ERR_* message, which echoes its argument", () => {
    let err: unknown;
    try {
      Buffer.from('x', 'postgres://app:hunter2@db/x' as BufferEncoding);
    } catch (e) {
      err = e;
    }
    expect((err as { code?: string }).code).toBe('ERR_UNKNOWN_ENCODING');
    expect((err as Error).message).toContain('hunter2');
    expect(safeMessage(err)).toBe('internal error (TypeError); rerun with ACTIONS_STEP_DEBUG for details');
  });

  it('nor any other error whose code merely looks like ours', () => {
    const fake = Object.assign(new Error('token ghs_secret123'), { code: 'ERR_OIDC_EXPIRED' });
    expect(safeMessage(fake)).toBe('internal error (Error); rerun with ACTIONS_STEP_DEBUG for details');
    const argType = (() => { try { Buffer.from(Symbol('x') as never); } catch (e) { return e; } })();
    expect((argType as { code?: string }).code).toMatch(/^ERR_/);
    expect(safeMessage(argType)).toMatch(/^internal error \(TypeError\)/);
  });
});
