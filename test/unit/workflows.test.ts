// Every workflow we ship must be valid as GitHub reads it, and every `uses:` must resolve to a file in
// this repository: a starter that calls a missing reusable workflow fails only in users' repos.
// A hand-rolled structural check (no network, no schema download).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

/** The name the starters and reusable workflows use for this repository (see workflows/README.md). */
const SELF = 'tollgate-dev/tollgate';
/** Third-party actions our workflows may use, pinned to a major version. */
const EXTERNAL = /^actions\/(checkout|setup-node)@v\d+$/;
const GATEWAY_PERMISSIONS = { 'id-token': 'write', contents: 'read', checks: 'write', 'pull-requests': 'read' };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function load(path: string): Obj {
  const doc = parse(readFileSync(path, 'utf8'), { strict: true, uniqueKeys: true });
  expect(isObj(doc), `${path} is a mapping`).toBe(true);
  return doc as Obj;
}

const reusable = readdirSync('.github/workflows').filter((f) => /\.ya?ml$/.test(f)).map((f) => join('.github/workflows', f));
const starters = readdirSync('workflows').filter((f) => /\.ya?ml$/.test(f)).map((f) => join('workflows', f));
const all = [...reusable, ...starters];

const TRIGGERS = new Set(['push', 'pull_request', 'pull_request_target', 'workflow_dispatch', 'workflow_call', 'schedule', 'merge_group']);
const PERMISSION_SCOPES = new Set(['actions', 'attestations', 'checks', 'contents', 'deployments', 'id-token', 'issues', 'discussion', 'packages', 'pages', 'pull-requests', 'repository-projects', 'security-events', 'statuses']);

function checkPermissions(where: string, p: unknown): void {
  if (p === undefined) return;
  expect(isObj(p), `${where}: permissions is a mapping`).toBe(true);
  for (const [k, v] of Object.entries(p as Obj)) {
    expect(PERMISSION_SCOPES.has(k), `${where}: unknown permission ${k}`).toBe(true);
    expect(['read', 'write', 'none'], `${where}: ${k}: ${String(v)}`).toContain(v);
  }
}

/** The structure GitHub requires of a workflow file (the subset we use, strictly). */
function checkWorkflow(path: string, wf: Obj): void {
  expect(typeof wf.name, `${path}: name`).toBe('string');
  expect(Object.keys(wf).every((k) => ['name', 'on', 'permissions', 'jobs', 'env', 'concurrency', 'defaults', 'run-name'].includes(k)), `${path}: top-level keys ${Object.keys(wf)}`).toBe(true);
  expect(isObj(wf.on), `${path}: on is a mapping`).toBe(true);
  for (const t of Object.keys(wf.on as Obj)) expect(TRIGGERS.has(t), `${path}: trigger ${t}`).toBe(true);
  checkPermissions(path, wf.permissions);
  expect(isObj(wf.jobs) && Object.keys(wf.jobs as Obj).length > 0, `${path}: jobs`).toBe(true);
  for (const [id, job] of Object.entries(wf.jobs as Obj)) {
    const where = `${path}: jobs.${id}`;
    expect(/^[A-Za-z_][A-Za-z0-9_-]*$/.test(id), `${where}: job id`).toBe(true);
    expect(isObj(job), where).toBe(true);
    const j = job as Obj;
    checkPermissions(where, j.permissions);
    if (j.uses !== undefined) {
      expect(typeof j.uses, `${where}: uses`).toBe('string');
      expect(j.steps, `${where}: a job calling a workflow has no steps`).toBeUndefined();
      expect(j['runs-on'], `${where}: a job calling a workflow has no runs-on`).toBeUndefined();
    } else {
      expect(typeof j['runs-on'], `${where}: runs-on`).toBe('string');
      expect(Array.isArray(j.steps) && (j.steps as unknown[]).length > 0, `${where}: steps`).toBe(true);
      for (const [i, step] of (j.steps as unknown[]).entries()) {
        expect(isObj(step), `${where}.steps[${i}]`).toBe(true);
        const s = step as Obj;
        expect((s.uses === undefined) !== (s.run === undefined), `${where}.steps[${i}]: exactly one of uses/run`).toBe(true);
      }
    }
  }
}

/** `${{ inputs.x }}` / `${{ secrets.x }}` names used anywhere in the file. */
function referenced(text: string, ctx: 'inputs' | 'secrets'): Set<string> {
  const out = new Set<string>();
  for (const expr of text.matchAll(/\$\{\{([^}]*)\}\}/g)) {
    for (const m of expr[1]!.matchAll(new RegExp(`\\b${ctx}\\.([A-Za-z0-9_-]+)`, 'g'))) out.add(m[1]!);
  }
  return out;
}

function stepsUsing(wf: Obj): { where: string; uses: string; with: Obj }[] {
  const out: { where: string; uses: string; with: Obj }[] = [];
  for (const [id, job] of Object.entries(wf.jobs as Obj)) {
    for (const [i, s] of (((job as Obj).steps as Obj[] | undefined) ?? []).entries()) {
      if (typeof s.uses === 'string') out.push({ where: `jobs.${id}.steps[${i}]`, uses: s.uses, with: (s.with as Obj) ?? {} });
    }
  }
  return out;
}

/** The inputs the action declares (action.yml), with whether each is required without a default. */
function actionInputs(): Map<string, boolean> {
  const a = load('action.yml');
  return new Map(Object.entries(a.inputs as Obj).map(([k, v]) => [k, (v as Obj).required === true && (v as Obj).default === undefined]));
}

describe('workflow files', () => {
  it('exist in both places: reusable in .github/workflows, starters in workflows/', () => {
    expect(reusable).toContain('.github/workflows/tollgate-migrate.yml');
    expect(starters).toContain('workflows/db-migration.yml');
  });

  it.each(all)('%s parses and has the structure GitHub requires', (path) => {
    checkWorkflow(path, load(path));
  });

  it('no workflow is kept in two places (one copy of each)', () => {
    const base = (p: string) => p.split('/').pop();
    const names = all.map(base);
    expect(new Set(names).size).toBe(names.length);
    // The starters call the reusable workflows; they never are reusable themselves.
    for (const s of starters) expect(Object.keys(load(s).on as Obj)).not.toContain('workflow_call');
  });

  it.each(all)('%s: every step `uses:` is this repository\'s action (with its inputs) or an allowed pinned action', (path) => {
    const inputs = actionInputs();
    for (const step of stepsUsing(load(path))) {
      if (step.uses.startsWith(`${SELF}@`)) {
        expect(existsSync('action.yml')).toBe(true);
        for (const k of Object.keys(step.with)) expect(inputs.has(k), `${path} ${step.where}: action has no input ${k}`).toBe(true);
        for (const [k, required] of inputs) if (required) expect(step.with, `${path} ${step.where}: required input ${k}`).toHaveProperty(k);
      } else {
        expect(step.uses, `${path} ${step.where}`).toMatch(EXTERNAL);
      }
    }
  });

  it.each(all)('%s: a job that runs the gateway has the permissions it needs', (path) => {
    const wf = load(path);
    for (const [id, job] of Object.entries(wf.jobs as Obj)) {
      const j = job as Obj;
      const runsGateway = stepsUsing({ jobs: { [id]: j } }).some((s) => s.uses.startsWith(`${SELF}@`))
        || (typeof j.uses === 'string' && j.uses.startsWith(`${SELF}/`));
      if (!runsGateway) continue;
      // Job-level permissions win over the workflow's; either must grant all four.
      const perms = (j.permissions ?? wf.permissions) as Obj | undefined;
      expect(perms, `${path}: jobs.${id} permissions`).toEqual(GATEWAY_PERMISSIONS);
    }
  });

  it('tollgate\'s own workflows that do not run the gateway ask only for contents: read', () => {
    const ci = load('.github/workflows/ci.yml');
    expect(ci.permissions).toEqual({ contents: 'read' });
  });
});

describe('reusable workflows (.github/workflows, on: workflow_call)', () => {
  const calls = reusable.filter((p) => isObj(load(p).on) && 'workflow_call' in (load(p).on as Obj));

  it('tollgate-migrate.yml takes policy and command inputs and the upstream URL as a secret', () => {
    const call = (load('.github/workflows/tollgate-migrate.yml').on as Obj).workflow_call as Obj;
    expect(Object.keys(call).sort()).toEqual(['inputs', 'outputs', 'secrets']);
    const inputs = call.inputs as Obj;
    expect(inputs.policy).toMatchObject({ type: 'string', required: true });
    expect(inputs.command).toMatchObject({ type: 'string', required: true });
    expect((call.secrets as Obj)['upstream-url']).toMatchObject({ required: true });
  });

  it.each(calls)('%s: inputs and secrets are well formed and every reference is declared', (path) => {
    // Parsed and re-serialized, so references in comments do not count.
    const text = JSON.stringify(load(path));
    const call = ((load(path).on as Obj).workflow_call ?? {}) as Obj;
    const inputs = (call.inputs ?? {}) as Obj;
    const secrets = (call.secrets ?? {}) as Obj;
    for (const [k, v] of Object.entries(inputs)) {
      expect(isObj(v), `${path}: input ${k}`).toBe(true);
      expect(['string', 'boolean', 'number'], `${path}: input ${k} type`).toContain((v as Obj).type);
      expect(typeof (v as Obj).description, `${path}: input ${k} description`).toBe('string');
      if ((v as Obj).required === true) expect((v as Obj).default, `${path}: required input ${k} has no default`).toBeUndefined();
    }
    for (const [k, v] of Object.entries(secrets)) expect(typeof (v as Obj).description, `${path}: secret ${k}`).toBe('string');
    for (const name of referenced(text, 'inputs')) expect(Object.keys(inputs), `${path}: inputs.${name} is declared`).toContain(name);
    for (const name of referenced(text, 'secrets')) expect(Object.keys(secrets), `${path}: secrets.${name} is declared`).toContain(name);
    // The caller's command reaches the shell through the environment, never spliced into `run:`.
    for (const [, job] of Object.entries(load(path).jobs as Obj)) {
      for (const s of ((job as Obj).steps as Obj[]) ?? []) {
        if (typeof s.run === 'string') expect(referenced(s.run, 'inputs').size, `${path}: run: must not expand inputs`).toBe(0);
      }
    }
  });

  it.each(calls)('%s: declared outputs come from a job that exists', (path) => {
    const wf = load(path);
    const outputs = (((wf.on as Obj).workflow_call as Obj).outputs ?? {}) as Obj;
    for (const [k, v] of Object.entries(outputs)) {
      const m = /^\$\{\{\s*jobs\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)\s*\}\}$/.exec(String((v as Obj).value));
      expect(m, `${path}: output ${k}`).not.toBeNull();
      const job = (wf.jobs as Obj)[m![1]!] as Obj | undefined;
      expect(job, `${path}: output ${k} job`).toBeDefined();
      expect(Object.keys((job!.outputs ?? {}) as Obj)).toContain(m![2]);
    }
  });
});

describe('starter workflows (workflows/)', () => {
  it.each(starters)('%s calls a reusable workflow of this repository that exists, with its inputs and secrets', (path) => {
    const wf = load(path);
    expect(wf.permissions, `${path}: workflow permissions`).toEqual(GATEWAY_PERMISSIONS);
    let calledSomething = false;
    for (const [id, job] of Object.entries(wf.jobs as Obj)) {
      const j = job as Obj;
      if (typeof j.uses !== 'string') continue;
      const m = new RegExp(`^${SELF}/(\\.github/workflows/[A-Za-z0-9_.-]+\\.ya?ml)@[A-Za-z0-9_.-]+$`).exec(j.uses);
      expect(m, `${path}: jobs.${id}.uses must be ${SELF}/.github/workflows/<file>@<ref>`).not.toBeNull();
      const target = m![1]!;
      expect(existsSync(target), `${path}: ${target} exists`).toBe(true);
      const call = ((load(target).on as Obj).workflow_call ?? null) as Obj | null;
      expect(call, `${target} is reusable (on: workflow_call)`).not.toBeNull();
      const inputs = (call!.inputs ?? {}) as Obj;
      const secrets = (call!.secrets ?? {}) as Obj;
      const withs = (j.with ?? {}) as Obj;
      const passed = (j.secrets ?? {}) as Obj | string;
      for (const k of Object.keys(withs)) expect(Object.keys(inputs), `${path}: ${target} has input ${k}`).toContain(k);
      for (const [k, v] of Object.entries(inputs)) if ((v as Obj).required === true) expect(withs, `${path}: required input ${k}`).toHaveProperty(k);
      if (passed !== 'inherit') {
        for (const k of Object.keys(passed)) expect(Object.keys(secrets), `${path}: ${target} has secret ${k}`).toContain(k);
        for (const [k, v] of Object.entries(secrets)) if ((v as Obj).required === true) expect(passed, `${path}: required secret ${k}`).toHaveProperty(k);
      }
      calledSomething = true;
    }
    expect(calledSomething, `${path} calls a reusable workflow`).toBe(true);
  });

  it.each(starters)('%s ships with a template properties file', (path) => {
    const props = JSON.parse(readFileSync(path.replace(/\.ya?ml$/, '.properties.json'), 'utf8')) as Obj;
    expect(typeof props.name).toBe('string');
    expect(typeof props.description).toBe('string');
  });

  it('the README names every workflow we ship', () => {
    const readme = readFileSync('workflows/README.md', 'utf8');
    for (const p of [...reusable.filter((r) => !r.endsWith('ci.yml')), ...starters]) expect(readme).toContain(p.split('/').pop());
  });
});

describe('documentation', () => {
  // What the READMEs tell users to write must exist here: `uses: <owner>/tollgate@<ref>` (the action) or
  // `uses: <owner>/tollgate/<path>@<ref>` (a reusable workflow), whatever owner the text uses.
  const docs = ['README.md', 'workflows/README.md', ...starters, ...reusable].filter((p) => existsSync(p));

  it.each(docs)('%s: every `uses:` of tollgate resolves to a file in this repository', (doc) => {
    const text = readFileSync(doc, 'utf8');
    for (const m of text.matchAll(/uses:\s*['"]?([A-Za-z0-9_.-]+)\/tollgate(\/[^@\s'"]+)?@[A-Za-z0-9_.-]+/g)) {
      const path = m[2] ? m[2].slice(1) : 'action.yml';
      expect(existsSync(path), `${doc}: ${m[0]} names ${path}, which does not exist`).toBe(true);
      if (m[2]) expect(Object.keys(load(path).on as Obj), `${doc}: ${path} is reusable`).toContain('workflow_call');
    }
  });

  it('workflows/README.md shows how to call the reusable workflow', () => {
    expect(readFileSync('workflows/README.md', 'utf8')).toMatch(/uses: <org>\/tollgate\/\.github\/workflows\/<file>@<ref>/);
  });
});
