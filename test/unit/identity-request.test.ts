import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as core from '@actions/core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { explainTokenRequestFailure } from '../../src/identity/request.js';
import { startOidcIssuer, type OidcIssuer } from '../support/oidc-issuer.js';

const offered = { GITHUB_ACTIONS: 'true', ACTIONS_ID_TOKEN_REQUEST_URL: 'http://x/token?api-version=2.0', ACTIONS_ID_TOKEN_REQUEST_TOKEN: 't' };
const inActions = { GITHUB_ACTIONS: 'true', GITHUB_EVENT_NAME: 'push', GITHUB_ACTOR: 'dev1' };
const forkEvent = { pull_request: { head: { repo: { full_name: 'mallory/app', fork: true } }, base: { repo: { full_name: 'acme/app' } } } };
const sameRepoEvent = { pull_request: { head: { repo: { full_name: 'acme/app', fork: false } }, base: { repo: { full_name: 'acme/app' } } } };
const missing = new Error('Error message: Unable to get ACTIONS_ID_TOKEN_REQUEST_URL env variable');

describe('explainTokenRequestFailure', () => {
  it('no token offered in a normal job: add id-token: write', () => {
    expect(explainTokenRequestFailure(inActions, missing)).toBe(
      "The runner offered this job no OIDC token (ACTIONS_ID_TOKEN_REQUEST_URL is not set), which means the job lacks `permissions: id-token: write`; add it to the job's `permissions:` (with `contents: read`, `checks: write` and `pull-requests: read`, as listing permissions turns the others off).",
    );
  });

  it('a pull request from a fork gets no token: says so', () => {
    expect(explainTokenRequestFailure({ ...inActions, GITHUB_EVENT_NAME: 'pull_request' }, missing, forkEvent)).toBe(
      'This job runs for a pull request from the fork mallory/app, and GitHub gives no OIDC token to workflows of pull requests from forks, so tollgate cannot start a session; run the database step after the change is merged, or from a branch of this repository.',
    );
  });

  it('reads the event from GITHUB_EVENT_PATH when not given', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'identity-request-'));
    try {
      const path = join(dir, 'event.json');
      await writeFile(path, JSON.stringify({ pull_request: { head: { repo: null }, base: { repo: { full_name: 'acme/app' } } } }));
      expect(explainTokenRequestFailure({ ...inActions, GITHUB_EVENT_NAME: 'pull_request', GITHUB_EVENT_PATH: path }, missing)).toMatch(
        /^This job runs for a pull request from a deleted fork, and GitHub gives no OIDC token/,
      );
      await writeFile(path, JSON.stringify(sameRepoEvent));
      expect(explainTokenRequestFailure({ ...inActions, GITHUB_EVENT_NAME: 'pull_request', GITHUB_EVENT_PATH: path }, missing)).toContain('id-token: write');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('Dependabot runs get no token', () => {
    expect(explainTokenRequestFailure({ ...inActions, GITHUB_ACTOR: 'dependabot[bot]' }, missing)).toMatch(/^This job was triggered by Dependabot/);
  });

  it('not in GitHub Actions at all', () => {
    expect(explainTokenRequestFailure({}, missing)).toBe(
      'No GitHub Actions OIDC token is available because this is not running in a GitHub Actions job; outside Actions use `tollgate serve` instead of the action.',
    );
  });

  it('a 403 from the token service points at the permission, or at the fork', () => {
    const err = new Error('Error message: Failed to get ID Token. \n \n        Error Code : 403\n \n        Error Message: Forbidden secret-ish body');
    expect(explainTokenRequestFailure(offered, err)).toBe(
      "The runner's token service refused the OIDC token request (HTTP 403); check that the job has `permissions: id-token: write`.",
    );
    expect(explainTokenRequestFailure({ ...offered, GITHUB_EVENT_NAME: 'pull_request_target' }, err, forkEvent)).toBe(
      "The runner's token service refused the OIDC token request (HTTP 403) for this pull request from mallory/app, and pull requests from forks get no token.",
    );
    expect(explainTokenRequestFailure(offered, err)).not.toContain('secret-ish');
  });

  it('other failures are transient, with the status or errno only', () => {
    expect(explainTokenRequestFailure(offered, new Error('Error message: Failed to get ID Token. Error Code : 500 Error Message: boom'))).toBe(
      "Requesting the OIDC token from the runner's token service failed (HTTP 500), so no session was started; this is usually transient: rerun the job.",
    );
    expect(explainTokenRequestFailure(offered, new Error('Error message: connect ECONNREFUSED 127.0.0.1:1'))).toContain('(ECONNREFUSED)');
    expect(explainTokenRequestFailure(offered, new Error('Error message: Response json body do not have ID Token field'))).toMatch(/answered without an OIDC token/);
  });
});

describe('with @actions/core against the local token request server', () => {
  let issuer: OidcIssuer;
  const saved = { ...process.env };
  beforeAll(async () => {
    issuer = await startOidcIssuer();
  });
  afterAll(async () => {
    await issuer.close();
  });
  afterEach(() => {
    for (const k of ['ACTIONS_ID_TOKEN_REQUEST_URL', 'ACTIONS_ID_TOKEN_REQUEST_TOKEN', 'GITHUB_ACTIONS']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    issuer.requestServer.failWith = null;
  });

  it('core.getIDToken gets a token for the audience; a 403 is explained', async () => {
    process.env.ACTIONS_ID_TOKEN_REQUEST_URL = issuer.requestServer.url;
    process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN = issuer.requestServer.token;
    process.env.GITHUB_ACTIONS = 'true';
    const token = await core.getIDToken('tollgate');
    expect(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).aud).toBe('tollgate');
    issuer.requestServer.failWith = 403;
    const err = await core.getIDToken('tollgate').catch((e: unknown) => e);
    expect(explainTokenRequestFailure(process.env, err)).toBe(
      "The runner's token service refused the OIDC token request (HTTP 403); check that the job has `permissions: id-token: write`.",
    );
  });

  it('core.getIDToken without the request URL is explained as the missing permission', async () => {
    delete process.env.ACTIONS_ID_TOKEN_REQUEST_URL;
    process.env.GITHUB_ACTIONS = 'true';
    const err = await core.getIDToken('tollgate').catch((e: unknown) => e);
    expect(explainTokenRequestFailure({ ...process.env, GITHUB_EVENT_NAME: 'push' }, err)).toMatch(/^The runner offered this job no OIDC token/);
  });
});
