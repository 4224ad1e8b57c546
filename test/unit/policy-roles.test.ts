// Globs (compiled once, anchored, `*` within a segment, `**` across), durations, and OIDC claims →
// role, including claims that are not strings.
import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/policy/duration.js';
import { PolicyError } from '../../src/policy/errors.js';
import { compileGlob, globProblem } from '../../src/policy/glob.js';
import { parsePolicy } from '../../src/policy/load.js';
import { getRole, matchRoles, selectRole } from '../../src/policy/roles.js';

describe('globs', () => {
  it('are anchored at both ends', () => {
    const g = compileGlob('acme/app', '/');
    expect(g.literal).toBe(true);
    expect(g.test('acme/app')).toBe(true);
    expect(g.test('acme/app2')).toBe(false);
    expect(g.test('xacme/app')).toBe(false);
    expect(compileGlob('acme/*', '/').test('evil/acme/x')).toBe(false);
  });

  it('`*` stays within a segment of the separator, `**` crosses it', () => {
    const star = compileGlob('refs/heads/*', '/');
    expect(star.literal).toBe(false);
    expect(star.test('refs/heads/main')).toBe(true);
    expect(star.test('refs/heads/')).toBe(true);
    expect(star.test('refs/heads/feature/x')).toBe(false);
    const two = compileGlob('refs/heads/**', '/');
    expect(two.test('refs/heads/feature/x')).toBe(true);
    const obj = compileGlob('public.*', '.');
    expect(obj.test('public.users')).toBe(true);
    expect(obj.test('public.users.extra')).toBe(false);
    // In object names `/` is an ordinary character, and `.` the separator.
    expect(compileGlob('a*', '.').test('a/b')).toBe(true);
    expect(compileGlob('a*', '/').test('a.b')).toBe(true);
    expect(compileGlob('**', '.').test('x.y.z')).toBe(true);
    expect(compileGlob('repo:acme/*:ref:refs/heads/**', '/').test('repo:acme/app:ref:refs/heads/rel/1')).toBe(true);
  });

  it('are case-exact and take regex characters literally', () => {
    expect(compileGlob('public.Users', '.').test('public.users')).toBe(false);
    expect(compileGlob('a+b.(c)|$', '.').test('a+b.(c)|$')).toBe(true);
    expect(compileGlob('a+b.*', '.').test('aab.x')).toBe(false);
    expect(compileGlob('x\\*', '.').test('x\\anything')).toBe(true);
  });

  it('reject what would be misread', () => {
    expect(globProblem('')).toBe('a glob must not be empty');
    expect(globProblem('a***')).toContain('"***" is ambiguous');
    expect(globProblem('v[12]')).toContain('"[" is not supported');
    expect(globProblem('a\nb')).toBe('a glob must not contain control characters');
    expect(globProblem('acme/**')).toBeNull();
    expect(() => compileGlob('{a,b}', '/')).toThrow(TypeError);
  });
});

describe('durations', () => {
  it.each([
    ['90s', 90_000],
    ['30m', 1_800_000],
    ['1h', 3_600_000],
    ['1h30m', 5_400_000],
    ['2h0m5s', 7_205_000],
  ])('%s', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', '0s', '1', '1d', 'h', '1h 30m', '30m1h', '-5m', '1.5h', 'PT1H'])('rejects %j', (text) => {
    expect(parseDuration(text)).toBeNull();
  });
});

const policy = parsePolicy(
  `version: 1
roles:
  readers:
    match:
      repository: acme/*
      ref: [refs/heads/main, refs/pull/*/merge]
  deployers:
    match:
      repository: acme/app
      environment: production
  anything-acme:
    match:
      repository_owner: acme
`,
  'roles.yml',
);

describe('matching roles to claims', () => {
  const main = { repository: 'acme/app', ref: 'refs/heads/main', repository_owner: 'acme' };

  it('every key must match; a list means any of', () => {
    expect(matchRoles(policy, main)).toEqual(['readers', 'anything-acme']);
    expect(matchRoles(policy, { ...main, ref: 'refs/pull/42/merge' })).toEqual(['readers', 'anything-acme']);
    expect(matchRoles(policy, { ...main, ref: 'refs/heads/dev' })).toEqual(['anything-acme']);
    expect(matchRoles(policy, { ...main, environment: 'production' })).toEqual(['readers', 'deployers', 'anything-acme']);
    expect(matchRoles(policy, { repository: 'acme/app/x', ref: 'refs/heads/main' })).toEqual([]);
  });

  it('an absent or non-string claim never matches', () => {
    expect(matchRoles(policy, { repository: 'acme/app' })).toEqual([]);
    expect(matchRoles(policy, { repository: 'acme/app', ref: ['refs/heads/main'] })).toEqual([]);
    expect(matchRoles(policy, { repository_owner: { toString: () => 'acme' } })).toEqual([]);
    expect(matchRoles(policy, { repository_owner: null })).toEqual([]);
    const numeric = parsePolicy('version: 1\nroles:\n  r:\n    match:\n      repository_id: "12"\n', 'n.yml');
    expect(matchRoles(numeric, { repository_id: 12 })).toEqual([]);
    expect(matchRoles(numeric, { repository_id: '12' })).toEqual(['r']);
  });

  it('claims inherited from the prototype do not count', () => {
    const p = parsePolicy('version: 1\nroles:\n  r:\n    match:\n      constructor: "**"\n', 'proto.yml');
    expect(matchRoles(p, {})).toEqual([]);
  });

  it('selectRole takes the first matching role in policy order', () => {
    expect(selectRole(policy, { ...main, environment: 'production' }).name).toBe('readers');
  });

  it('selectRole with a wanted role insists on it', () => {
    expect(selectRole(policy, { ...main, environment: 'production' }, 'deployers').name).toBe('deployers');
    expect(() => selectRole(policy, main, 'deployers')).toThrow(
      new PolicyError('ERR_ROLE_NO_MATCH', 'role "deployers" does not match the claims: environment (absent) does not match production'),
    );
    expect(() => selectRole(policy, { ...main, ref: 'refs/heads/x' }, 'readers')).toThrow(
      'role "readers" does not match the claims: ref="refs/heads/x" does not match refs/heads/main | refs/pull/*/merge',
    );
    expect(() => selectRole(policy, main, 'admins')).toThrow('unknown role "admins" in roles.yml (roles: readers, deployers, anything-acme)');
  });

  it('no match names every claim that was checked', () => {
    let err: PolicyError | undefined;
    try {
      selectRole(policy, { repository: 'evil/app', ref: 'refs/heads/main', repository_owner: 7 });
    } catch (e) {
      err = e as PolicyError;
    }
    expect(err?.code).toBe('ERR_ROLE_NO_MATCH');
    expect(err?.message).toBe(
      'no role in roles.yml matches the claims (checked repository="evil/app", ref="refs/heads/main", environment (absent), repository_owner=7 (not a string) against roles readers, deployers, anything-acme)',
    );
  });

  it('getRole names the roles there are', () => {
    expect(getRole(policy, 'readers').name).toBe('readers');
    let err: PolicyError | undefined;
    try {
      getRole(policy, 'x');
    } catch (e) {
      err = e as PolicyError;
    }
    expect(err?.code).toBe('ERR_ROLE_UNKNOWN');
  });
});
