// Request targets normalized as the upstream reads them, and everything servers read differently
// from one another refused with the exact reason (the proxy answers 400).
import { describe, expect, it } from 'vitest';
import { normalizeTarget } from '../../src/http/target.js';

const path = (raw: string, caseInsensitive = false) => {
  const r = normalizeTarget(raw, { caseInsensitive });
  if (!r.ok) throw new Error(`refused: ${r.reason}`);
  return r.target.path;
};
const refused = (raw: string) => {
  const r = normalizeTarget(raw);
  return r.ok ? `accepted as ${r.target.path}` : r.reason;
};

describe('normalized paths', () => {
  it.each([
    ['/v2/prod/api/manifests/v2', '/v2/prod/api/manifests/v2'],
    ['/v2/', '/v2/'],
    ['/v2', '/v2'],
    ['/', '/'],
    ['//', 'refused'],
    ['/v2//prod///api/manifests/v2', '/v2/prod/api/manifests/v2'],
    ['/v2/prod/api/', '/v2/prod/api/'],
    ['/v2/%70rod/api', '/v2/prod/api'],
    ['/v2/pro%64/api', '/v2/prod/api'],
    ['/a%7Eb%2D%5f', '/a~b-_'],
    ['/a%20b', '/a%20b'],
    ['/a%c3%a9', '/a%C3%A9'],
    ['/a%25', '/a%25'],
    ['/a:b@c!$&\'()*+,=', '/a:b@c!$&\'()*+,='],
  ])('%s → %s', (raw, want) => {
    if (want === 'refused') expect(normalizeTarget(raw).ok).toBe(false);
    else expect(path(raw)).toBe(want);
  });

  it('lower-cases for upstreams that ignore case', () => {
    expect(path('/ADMIN/Users', true)).toBe('/admin/users');
    expect(path('/ADMIN/Users')).toBe('/ADMIN/Users');
  });

  it('keeps the raw query and decodes parameters as Go does', () => {
    const r = normalizeTarget('/x?watch=true&labelSelector=app%3Dweb&q=a+b&flag');
    expect(r.ok && r.target.rawQuery).toBe('watch=true&labelSelector=app%3Dweb&q=a+b&flag');
    expect(r.ok && r.target.query).toEqual([
      { name: 'watch', value: 'true' }, { name: 'labelSelector', value: 'app=web' }, { name: 'q', value: 'a b' }, { name: 'flag', value: '' },
    ]);
    expect(r.ok && r.target.auditPath).toBe('/x?watch=…&labelSelector=…&q=…&flag=…');
  });
});

describe('targets refused (400), each with its reason', () => {
  it.each([
    ['http://evil.example/v2/', 'absolute-form request target'],
    ['HTTPS://registry/v2/', 'absolute-form request target'],
    ['*', 'asterisk-form request target'],
    ['v2/x', 'request target does not start with /'],
    ['//evil.example/v2/', 'request target starts with // (read as a host by some servers)'],
    ['/v2/prod%2Fapi/manifests/v2', 'encoded slash (%2F) in the path'],
    ['/v2/prod%2fapi/manifests/v2', 'encoded slash (%2F) in the path'],
    ['/v2/staging/../prod/api/manifests/v2', 'dot segment (. or ..) in the path'],
    ['/v2/staging/%2e%2e/prod/api/manifests/v2', 'dot segment (. or ..) in the path'],
    ['/v2/staging/.%2E/prod', 'dot segment (. or ..) in the path'],
    ['/v2/./prod', 'dot segment (. or ..) in the path'],
    ['/v2/staging/..', 'dot segment (. or ..) in the path'],
    ['/v2/prod;x=1/api/manifests/v2', '";" parameters in the path'],
    ['/v2/prod/api/manifests/v2;jsessionid=1', '";" parameters in the path'],
    ['/v2/prod%3Bx/api', 'encoded semicolon (%3B) in the path'],
    ['/v2\\prod', 'backslash in the path'],
    ['/v2%5Cprod', 'encoded backslash (%5C) in the path'],
    ['/v2/prod%00/api', 'encoded control character in the path'],
    ['/v2/prod%0d%0aX: y', 'encoded control character in the path'],
    ['/v2/pr%zzod', 'malformed percent-escape in the path'],
    ['/v2/prod%2', 'malformed percent-escape in the path'],
    ['/v2/a#frag', 'fragment in the request target'],
    ['/v2/a b', 'character " " not allowed in the path'],
    ['/v2/é', 'character "é" not allowed in the path'],
    ['/v2/a"b', 'character "\\"" not allowed in the path'],
    ['/x?a=1;b=2', '";" in the query (servers split on it differently)'],
    ['/x?a=%zz', 'malformed percent-escape in the query'],
    ['/x?a=b c', 'character " " not allowed in the query'],
    ['', 'empty request target'],
    [`/${'a'.repeat(9000)}`, 'request target longer than 8192 bytes'],
  ])('%s', (raw, reason) => {
    expect(refused(raw)).toBe(reason);
  });
});
