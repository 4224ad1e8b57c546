// action.yml is the contract users type against: inputs, defaults, outputs and the runtime.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

type Obj = Record<string, any>;
const action = parse(readFileSync('action.yml', 'utf8'), { strict: true, uniqueKeys: true }) as Obj;

describe('action.yml', () => {
  it('runs dist/main.js and dist/post.js on node24, post always', () => {
    expect(action.runs).toEqual({ using: 'node24', main: 'dist/main.js', post: 'dist/post.js', 'post-if': 'always()' });
  });

  it('declares exactly the inputs of DESIGN.md, with their defaults', () => {
    const defaults = Object.fromEntries(Object.entries(action.inputs as Obj).map(([k, v]) => [k, (v as Obj).default]));
    expect(defaults).toEqual({
      policy: undefined,
      upstream: '',
      audience: 'tollgate',
      role: '',
      listen: '127.0.0.1:6432',
      'session-ttl': '',
      'approval-timeout': '',
      'github-token': '${{ github.token }}',
      'approval-poll': '10s',
      'oidc-issuer': 'https://token.actions.githubusercontent.com',
    });
    expect(action.inputs.policy.required).toBe(true);
    for (const [k, v] of Object.entries(action.inputs as Obj)) {
      expect(typeof v.description, `input ${k} description`).toBe('string');
      expect(v.description.length, `input ${k} description`).toBeGreaterThan(20);
    }
  });

  it('declares the outputs session-id, role, expires-at, database-url with descriptions', () => {
    expect(Object.keys(action.outputs).sort()).toEqual(['database-url', 'expires-at', 'role', 'session-id']);
    for (const [k, v] of Object.entries(action.outputs as Obj)) expect(typeof v.description, k).toBe('string');
  });

  it('has a name, description and branding (Marketplace requirements)', () => {
    expect(action.name).toBe('tollgate');
    expect(typeof action.description).toBe('string');
    expect(action.branding).toEqual({ icon: 'shield', color: 'purple' });
  });
});
