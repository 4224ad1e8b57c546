// A local stand-in for the parts of the GitHub REST API that tollgate's approvals use: check runs,
// pull-request (issue) comments, collaborator permission, team membership, rate-limit headers and a
// secondary rate limit. It runs on node:http, port 0, and records every call for exact assertions.
//
//   const api = await startGithubApi({ repository: 'acme/app' });
//   api.setPermission('reviewer', 'write');
//   // the code under test gets apiUrl = api.url (GITHUB_API_URL) and token = api.token
//   await until(() => api.checkRuns()[0]);                      // the check run is open
//   api.addComment('reviewer', `/tollgate approve ${id}`, { issue: 7 });
//   expect(api.checkRuns()[0].conclusion).toBe('success');
//
// Comments live on issue 7 unless `issue` says otherwise; timestamps have whole seconds, as GitHub's do.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { importSPKI, jwtVerify } from 'jose';

export type Permission = 'admin' | 'maintain' | 'write' | 'triage' | 'read' | 'none';

export interface CheckRun {
  id: number;
  name: string;
  head_sha: string;
  status: string;
  conclusion: string | null;
  external_id: string | null;
  details_url: string | null;
  started_at: string;
  completed_at: string | null;
  output: { title: string | null; summary: string | null; text?: string | null };
  html_url: string;
  /** Requested-action buttons ({label, identifier, description}). */
  actions?: unknown[];
}

export interface Comment {
  id: number;
  node_id: string;
  body: string;
  user: { login: string; id: number; type: 'User' | 'Bot' | 'Organization' };
  created_at: string;
  updated_at: string;
  html_url: string;
  issue_number: number;
  /** Exact time of the last edit (GraphQL `lastEditedAt`), null when never edited; not in REST answers. */
  last_edited_at: string | null;
}

export interface Review {
  id: number;
  node_id: string;
  body: string;
  state: 'APPROVED' | 'CHANGES_REQUESTED' | 'COMMENTED' | 'DISMISSED' | 'PENDING';
  user: { login: string; id: number; type: 'User' | 'Bot' | 'Organization' };
  submitted_at: string;
  html_url: string;
  pull_number: number;
}

export interface RecordedCall {
  at: number;
  method: string;
  path: string;
  query: Record<string, string>;
  headers: { accept?: string; apiVersion?: string };
  body: unknown;
  status: number;
}

export interface GithubApiState {
  /** Primary budget: each request spends one; at 0 requests get 403 until `rateLimitReset` (epoch seconds). */
  rateLimitRemaining: number;
  rateLimitReset: number;
  /** The next request gets a 403 secondary rate limit with this retry-after (seconds), once. */
  secondaryLimitOnce: { retryAfterSeconds: number } | null;
  /** Answer every request with this status (API trouble). */
  failWith: number | null;
  /** Answer the next `times` requests whose path matches with this status. */
  failOn: { path: RegExp; status: number; times: number } | null;
  /** Filter comments by `since` (updated at or after), as GitHub does. Off: return all (tests the client's own check). */
  honourSince: boolean;
  checkRuns: CheckRun[];
  comments: Comment[];
  reviews: Review[];
  /** login (lower case) → account id; `account()` adds one. Renames move a login to another id. */
  accounts: Map<string, number>;
  /** The pull request's author (login) per pull number; default `author`. */
  pullAuthors: Map<number, string>;
  /** The pull request's base commit per pull number; default BASE_SHA. */
  pullBases: Map<number, string>;
  /** Files in the repository by `<commit>:<path>` (the contents API). */
  files: Map<string, string>;
  permissions: Map<string, Permission>;
  teams: Map<string, Map<string, 'active' | 'pending'>>;
  /** Pull requests by number: head SHA and author (GET /repos/o/r/pulls/N). */
  pulls: Map<number, { headSha: string; author: string }>;
  calls: RecordedCall[];
}

export interface GithubApiOptions {
  /** The bearer token the API accepts (random when absent). */
  token?: string;
  /** owner/name served (others: 404). */
  repository?: string;
  /**
   * Act as GitHub for a GitHub App: GET /repos/o/r/installation and POST
   * /app/installations/ID/access_tokens accept a JWT signed RS256 by the App's key (iss = appId) and
   * hand out `token` as the installation token.
   */
  app?: { appId: string; publicKeyPem: string; installationId?: number };
}

export interface GithubApi {
  url: string;
  token: string;
  state: GithubApiState;
  addComment(login: string, body: string, opts?: { type?: Comment['user']['type']; issue?: number; createdAt?: Date }): Comment;
  /** `sameSecond`: the edit lands within the creation second, invisible in REST's whole-second updated_at. */
  editComment(id: number, body: string, opts?: { sameSecond?: boolean }): Comment;
  deleteComment(id: number): void;
  /** A file as it is at `commit` (served by GET /repos/{o}/{r}/contents/{path}?ref=commit). */
  setFile(commit: string, path: string, text: string): void;
  addReview(login: string, body: string, state: Review['state'], opts?: { pull?: number; submittedAt?: Date }): Review;
  /** The account id of a login (created on first use). */
  account(login: string): number;
  /** `from` renames itself to `to`: the id keeps its account, the old login is free for anyone. */
  renameAccount(from: string, to: string): void;
  setPermission(login: string, permission: Permission): void;
  setTeamMembers(org: string, team: string, logins: string[], state?: 'active' | 'pending'): void;
  checkRuns(): CheckRun[];
  calls(filter?: { method?: string; path?: RegExp }): RecordedCall[];
  close(): Promise<void>;
}

/** The base commit of every pull request unless `pullBases` says otherwise. */
export const BASE_SHA = 'b'.repeat(40);

/** GitHub's timestamps have whole seconds. */
const iso = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

export async function startGithubApi(opts: GithubApiOptions = {}): Promise<GithubApi> {
  const token = opts.token ?? `ghs_${randomBytes(18).toString('hex')}`;
  const repository = opts.repository ?? 'acme/app';
  const state: GithubApiState = {
    rateLimitRemaining: 5000,
    rateLimitReset: Math.floor(Date.now() / 1000) + 3600,
    secondaryLimitOnce: null,
    failWith: null,
    failOn: null,
    honourSince: true,
    checkRuns: [],
    comments: [],
    reviews: [],
    accounts: new Map(),
    pullAuthors: new Map(),
    pullBases: new Map(),
    files: new Map(),
    permissions: new Map(),
    teams: new Map(),
    pulls: new Map(),
    calls: [],
  };
  let nextId = 1000;
  let nextAccount = 50_000;
  let url = '';
  const account = (login: string): number => {
    const key = login.toLowerCase();
    let id = state.accounts.get(key);
    if (id === undefined) state.accounts.set(key, (id = nextAccount++));
    return id;
  };
  const loginOf = (id: number): string | undefined => [...state.accounts].find(([, v]) => v === id)?.[0];

  const server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => { raw += c; });
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://localhost');
      const call: RecordedCall = {
        at: Date.now(), method: req.method ?? '', path: u.pathname, query: Object.fromEntries(u.searchParams),
        headers: { accept: req.headers.accept, apiVersion: header(req, 'x-github-api-version') },
        body: raw ? safeJson(raw) : undefined, status: 0,
      };
      state.calls.push(call);
      const send = (status: number, data: unknown, extra: Record<string, string> = {}) => {
        call.status = status;
        const headers: Record<string, string> = {
          'content-type': 'application/json; charset=utf-8',
          'x-ratelimit-limit': '5000',
          'x-ratelimit-remaining': String(state.rateLimitRemaining),
          'x-ratelimit-reset': String(state.rateLimitReset),
          'x-ratelimit-resource': 'core',
          ...extra,
        };
        res.writeHead(status, headers).end(status === 204 || status === 304 ? undefined : JSON.stringify(data));
      };
      route(req, u, call.body, send);
    });
  });

  function route(req: IncomingMessage, u: URL, body: unknown, send: (s: number, d: unknown, h?: Record<string, string>) => void): void {
    const app = opts.app;
    const installationId = app?.installationId ?? 77;
    if (app && (/^\/repos\/[^/]+\/[^/]+\/installation$/.test(u.pathname) || u.pathname === `/app/installations/${installationId}/access_tokens`)) {
      const jwt = /^(?:Bearer|token) (.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '';
      void importSPKI(app.publicKeyPem, 'RS256')
        .then((key) => jwtVerify(jwt, key, { algorithms: ['RS256'], issuer: app.appId }))
        .then(
          () => {
            if (u.pathname.endsWith('/installation')) {
              const repo = /^\/repos\/([^/]+\/[^/]+)\/installation$/.exec(u.pathname)![1];
              return repo === repository ? send(200, { id: installationId, app_id: Number(app.appId) }) : send(404, { message: 'Not Found' });
            }
            return send(201, { token, expires_at: new Date(Date.now() + 3_600_000).toISOString(), permissions: {} });
          },
          () => send(401, { message: 'A JSON web token could not be decoded' }),
        );
      return;
    }
    const auth = req.headers.authorization ?? '';
    if (auth !== `Bearer ${token}` && auth !== `token ${token}`) return send(401, { message: 'Bad credentials' });
    if (state.failWith !== null) return send(state.failWith, { message: 'Server Error' });
    if (state.failOn && state.failOn.times > 0 && state.failOn.path.test(u.pathname)) {
      state.failOn.times--;
      return send(state.failOn.status, { message: 'Server Error' });
    }
    if (state.secondaryLimitOnce) {
      const { retryAfterSeconds } = state.secondaryLimitOnce;
      state.secondaryLimitOnce = null;
      return send(403, { message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.' },
        { 'retry-after': String(retryAfterSeconds) });
    }
    if (state.rateLimitRemaining <= 0) {
      if (Date.now() / 1000 < state.rateLimitReset) return send(403, { message: 'API rate limit exceeded for installation.' });
      state.rateLimitRemaining = 5000;
    }
    state.rateLimitRemaining--;

    const m = req.method ?? '';
    const p = u.pathname;
    const repo = /^\/repos\/([^/]+)\/([^/]+)(\/.*)$/.exec(p);
    if (repo && `${repo[1]}/${repo[2]}` !== repository) return send(404, { message: 'Not Found' });
    const rest = repo?.[3] ?? '';
    let r: RegExpExecArray | null;

    if (m === 'POST' && rest === '/check-runs') {
      const b = (body ?? {}) as Record<string, any>;
      if (typeof b.name !== 'string' || typeof b.head_sha !== 'string') return send(422, { message: 'Invalid request: name and head_sha are required' });
      const id = nextId++;
      const run: CheckRun = {
        id, name: b.name, head_sha: b.head_sha, status: b.status ?? 'queued', conclusion: b.conclusion ?? null,
        external_id: b.external_id ?? null, details_url: b.details_url ?? null, started_at: iso(Date.now()),
        completed_at: null, output: { title: b.output?.title ?? null, summary: b.output?.summary ?? null, text: b.output?.text ?? null },
        html_url: `${url}/${repository}/runs/${id}`,
        ...(Array.isArray(b.actions) ? { actions: b.actions } : {}),
      };
      state.checkRuns.push(run);
      return send(201, run);
    }
    if ((r = /^\/check-runs\/(\d+)$/.exec(rest))) {
      const run = state.checkRuns.find((c) => c.id === Number(r![1]));
      if (!run) return send(404, { message: 'Not Found' });
      if (m === 'GET') return send(200, run);
      if (m === 'PATCH') {
        const b = (body ?? {}) as Record<string, any>;
        if (b.output && (typeof b.output.title !== 'string' || typeof b.output.summary !== 'string')) {
          return send(422, { message: 'Invalid request: output needs title and summary' });
        }
        if (b.status) run.status = b.status;
        if (b.conclusion) { run.conclusion = b.conclusion; run.status = 'completed'; }
        if (b.completed_at) run.completed_at = b.completed_at;
        if (b.output) run.output = { title: b.output.title, summary: b.output.summary, text: b.output.text ?? null };
        return send(200, run);
      }
    }
    if (m === 'GET' && (r = /^\/issues\/(\d+)\/comments$/.exec(rest))) {
      const issue = Number(r[1]);
      const since = u.searchParams.get('since');
      const perPage = Math.min(100, Number(u.searchParams.get('per_page') ?? 30));
      const page = Math.max(1, Number(u.searchParams.get('page') ?? 1));
      const all = state.comments
        .filter((c) => c.issue_number === issue)
        .filter((c) => !state.honourSince || !since || Date.parse(c.updated_at) >= Date.parse(since))
        .sort((a, b) => a.id - b.id);
      const items = all.slice((page - 1) * perPage, page * perPage);
      const links: string[] = [];
      const last = Math.max(1, Math.ceil(all.length / perPage));
      const pageUrl = (n: number) => { const x = new URL(`${u.pathname}${u.search}`, url); x.searchParams.set('page', String(n)); return x.href; };
      if (page < last) links.push(`<${pageUrl(page + 1)}>; rel="next"`, `<${pageUrl(last)}>; rel="last"`);
      const page200 = items.map(({ issue_number: _i, last_edited_at: _e, ...c }) => ({ ...c, user: { ...c.user, login: loginOf(c.user.id) ?? c.user.login } }));
      const etag = `"${createHash('sha1').update(JSON.stringify([page200, links])).digest('hex')}"`;
      if (req.headers['if-none-match'] === etag) {
        state.rateLimitRemaining++; // GitHub does not count a 304 against the rate limit
        return send(304, undefined, { etag });
      }
      return send(200, page200, { etag, ...(links.length ? { link: links.join(', ') } : {}) });
    }
    if (m === 'POST' && p === '/graphql') {
      const id = ((body ?? {}) as { variables?: { id?: unknown } }).variables?.id;
      const c = state.comments.find((x) => x.node_id === id);
      if (c) return send(200, { data: { node: { __typename: 'IssueComment', lastEditedAt: c.last_edited_at, body: c.body } } });
      const v = state.reviews.find((x) => x.node_id === id);
      if (v) return send(200, { data: { node: { __typename: 'PullRequestReview', lastEditedAt: null, body: v.body, state: v.state } } });
      return send(200, { data: { node: null }, errors: [{ type: 'NOT_FOUND', message: `Could not resolve to a node with the global id of '${String(id)}'` }] });
    }
    if (m === 'GET' && (r = /^\/users\/([^/]+)$/.exec(p))) {
      const id = state.accounts.get(decodeURIComponent(r[1]!).toLowerCase());
      if (id === undefined) return send(404, { message: 'Not Found' });
      return send(200, { login: loginOf(id), id, type: 'User' });
    }
    if (m === 'GET' && (r = /^\/pulls\/(\d+)$/.exec(rest))) {
      // `pulls` (head SHA and author, the gateway's tests) wins over `pullAuthors` when set.
      const pr = state.pulls.get(Number(r[1]));
      const author = pr?.author ?? state.pullAuthors.get(Number(r[1])) ?? 'author';
      return send(200, {
        number: Number(r[1]), user: { login: author, id: account(author), type: 'User' },
        base: { ref: 'main', sha: state.pullBases.get(Number(r[1])) ?? BASE_SHA },
        ...(pr ? { head: { sha: pr.headSha } } : {}),
      });
    }
    if (m === 'GET' && (r = /^\/contents\/(.+)$/.exec(rest))) {
      const path = r[1]!.split('/').map(decodeURIComponent).join('/');
      const text = state.files.get(`${u.searchParams.get('ref') ?? ''}:${path}`);
      if (text === undefined) return send(404, { message: 'Not Found' });
      return send(200, { type: 'file', encoding: 'base64', path, content: Buffer.from(text).toString('base64').replace(/(.{60})/g, '$1\n') });
    }
    if (m === 'GET' && (r = /^\/pulls\/(\d+)\/reviews$/.exec(rest))) {
      const pull = Number(r[1]);
      const items = state.reviews.filter((v) => v.pull_number === pull).map(({ pull_number: _p, ...v }) => ({ ...v, user: { ...v.user, login: loginOf(v.user.id) ?? v.user.login } }));
      const etag = `"${createHash('sha1').update(JSON.stringify(items)).digest('hex')}"`;
      if (req.headers['if-none-match'] === etag) {
        state.rateLimitRemaining++;
        return send(304, undefined, { etag });
      }
      return send(200, items, { etag });
    }
    if (m === 'GET' && (r = /^\/collaborators\/([^/]+)\/permission$/.exec(rest))) {
      const login = decodeURIComponent(r[1]!);
      const perm = state.permissions.get(login.toLowerCase()) ?? 'none';
      // The legacy `permission` maps maintain → write and triage → read; `role_name` is exact.
      const legacy = perm === 'maintain' ? 'write' : perm === 'triage' ? 'read' : perm;
      return send(200, { permission: legacy, role_name: perm, user: { login, type: 'User' } });
    }
    if (m === 'GET' && (r = /^\/orgs\/([^/]+)\/teams\/([^/]+)\/memberships\/([^/]+)$/.exec(p))) {
      const team = state.teams.get(`${r[1]}/${r[2]}`.toLowerCase());
      const st = team?.get(decodeURIComponent(r[3]!).toLowerCase());
      if (!st) return send(404, { message: 'Not Found' });
      return send(200, { role: 'member', state: st, url: `${url}${p}` });
    }
    return send(404, { message: 'Not Found' });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url, token, state,
    addComment(login, body, o = {}) {
      const created = iso(o.createdAt?.getTime() ?? Date.now());
      const id = nextId++;
      const issue = o.issue ?? 7;
      const c: Comment = {
        id, node_id: `IC_${id}`, body, user: { login, id: account(login), type: o.type ?? 'User' }, created_at: created, updated_at: created,
        html_url: `${url}/${repository}/pull/${issue}#issuecomment-${id}`, issue_number: issue, last_edited_at: null,
      };
      state.comments.push(c);
      return c;
    },
    editComment(id, body, o = {}) {
      const c = state.comments.find((x) => x.id === id);
      if (!c) throw new Error(`no comment ${id}`);
      c.body = body;
      c.last_edited_at = new Date().toISOString();
      // An edit within the creation second is invisible in whole-second timestamps.
      c.updated_at = o.sameSecond ? c.created_at : iso(Math.max(Date.now(), Date.parse(c.created_at) + 1000));
      return c;
    },
    deleteComment(id) {
      state.comments = state.comments.filter((x) => x.id !== id);
    },
    addReview(login, body, st, o = {}) {
      const id = nextId++;
      const pull = o.pull ?? 7;
      const v: Review = {
        id, node_id: `PRR_${id}`, body, state: st, user: { login, id: account(login), type: 'User' },
        submitted_at: iso(o.submittedAt?.getTime() ?? Date.now()), html_url: `${url}/${repository}/pull/${pull}#pullrequestreview-${id}`, pull_number: pull,
      };
      state.reviews.push(v);
      return v;
    },
    setFile(commit, path, text) { state.files.set(`${commit}:${path}`, text); },
    account,
    renameAccount(from, to) {
      const id = account(from);
      state.accounts.delete(from.toLowerCase());
      state.accounts.set(to.toLowerCase(), id);
    },
    setPermission(login, permission) {
      account(login);
      state.permissions.set(login.toLowerCase(), permission);
    },
    setTeamMembers(org, team, logins, st = 'active') {
      state.teams.set(`${org}/${team}`.toLowerCase(), new Map(logins.map((l) => [l.toLowerCase(), st])));
    },
    checkRuns: () => state.checkRuns,
    calls(filter = {}) {
      return state.calls.filter((c) => (!filter.method || c.method === filter.method) && (!filter.path || filter.path.test(c.path)));
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function safeJson(raw: string): unknown {
  try { return JSON.parse(raw); } catch { return raw; }
}
