// The engine on hand-made analyses: rule order, groups, exact accesses, always-allowed statements,
// all or nothing, masks through lineage, EXECUTE/FETCH with definitions, and the decision cache.
import { describe, expect, it } from 'vitest';
import { decideAnalyses, decideStatement } from '../../src/policy/decide.js';
import { PolicyEngine, type Analyzer } from '../../src/policy/engine.js';
import { parsePolicy } from '../../src/policy/load.js';
import { maskForColumn } from '../../src/policy/masks.js';
import type { Access, NamedDefinition, OutputColumn, StatementAnalysis } from '../../src/sql/types.js';

const policy = parsePolicy(
  `version: 1
roles:
  app:
    match: { repository: acme/* }
    postgres:
      rules:
        - { action: deny,   kinds: [read],   objects: [public.secrets] }      # 0
        - { action: allow,  kinds: [read],   objects: ["public.*"] }          # 1
        - { action: review, kinds: [write],  objects: [public.orders] }       # 2
        - { action: allow,  kinds: [insert], objects: ["audit.*"] }           # 3
        - { action: allow,  kinds: [call],   objects: [pg_catalog.pg_read_file, "pg_catalog.pg_ls_*"] }  # 4
        - { action: allow,  kinds: [ddl] }                                    # 5
        - { action: allow,  kinds: [execute, prepare, deallocate] }           # 6
        - { action: deny,   kinds: [any] }                                    # 7
      masks:
        - { columns: [public.users.email], strategy: partial }
        - { columns: ["*.ssn"], strategy: redact }
        - { columns: ["users.phone"], strategy: hash }
        - { columns: ["secret_*"], strategy: "null" }
  exact:
    match: { repository: acme/* }
    postgres:
      rules:
        - { action: allow, kinds: [do] }
        - { action: allow, kinds: [set], objects: [role] }
        - { action: allow, kinds: [any] }
`,
  'engine.yml',
);
const app = policy.roles.get('app')!;
const exactRole = policy.roles.get('exact')!;

function stmt(accesses: Access[], extra: Partial<StatementAnalysis> = {}): StatementAnalysis {
  return { sql: 'x', kind: accesses[0]?.kind ?? 'other', accesses, outputs: null, literalSensitive: false, ...extra };
}
const d = (accesses: Access[], extra?: Partial<StatementAnalysis>) => decideStatement(app, stmt(accesses, extra));

describe('rules', () => {
  it('the first rule whose kinds and objects match wins, in order', () => {
    expect(d([{ kind: 'select', object: 'public.secrets' }])).toMatchObject({
      decision: 'deny',
      rule: 'roles.app.postgres.rules[0]',
      reason: 'select on public.secrets denied by roles.app.postgres.rules[0]',
    });
    expect(d([{ kind: 'select', object: 'public.users' }])).toMatchObject({
      decision: 'allow',
      rule: 'roles.app.postgres.rules[1]',
      reason: 'select on public.users allowed by roles.app.postgres.rules[1]',
    });
    expect(d([{ kind: 'update', object: 'public.orders' }])).toMatchObject({
      decision: 'review',
      rule: 'roles.app.postgres.rules[2]',
      reason: 'update on public.orders needs review by roles.app.postgres.rules[2]',
    });
    expect(d([{ kind: 'update', object: 'public.users' }])).toMatchObject({ decision: 'deny', rule: 'roles.app.postgres.rules[7]' });
  });

  it('`*` in an object glob does not cross the dot', () => {
    expect(d([{ kind: 'insert', object: 'audit.log' }]).decision).toBe('allow');
    expect(d([{ kind: 'select', object: 'public' }]).rule).toBe('roles.app.postgres.rules[7]');
  });

  it('groups expand: read covers select, show, explain but not insert', () => {
    expect(d([{ kind: 'show' }]).rule).toBe('roles.app.postgres.rules[0]');
    expect(d([{ kind: 'explain', object: 'public.t' }]).rule).toBe('roles.app.postgres.rules[1]');
    expect(d([{ kind: 'insert', object: 'public.users' }]).rule).toBe('roles.app.postgres.rules[7]');
    expect(d([{ kind: 'create', object: 'anything.t' }]).rule).toBe('roles.app.postgres.rules[5]');
    expect(d([{ kind: 'grant', object: 'public.t' }]).rule).toBe('roles.app.postgres.rules[5]');
  });

  it('an access without an object matches the first rule of its kind, whatever its objects', () => {
    // DESIGN.md: "an access with no object matches a rule by kind alone" — so rule 0, a deny
    // scoped to public.secrets, also takes SELECT 1. Example policies put such denies after an
    // allow of their kind for that reason.
    expect(d([{ kind: 'select' }])).toMatchObject({ decision: 'deny', rule: 'roles.app.postgres.rules[0]', reason: 'select denied by roles.app.postgres.rules[0]' });
    expect(d([{ kind: 'insert' }])).toMatchObject({ decision: 'review', rule: 'roles.app.postgres.rules[2]' });
  });

  it('no matching rule → deny with rule null', () => {
    const role = parsePolicy('version: 1\nroles:\n  r:\n    match: { a: b }\n    postgres:\n      rules:\n        - { action: allow, kinds: [select], objects: [public.t] }\n', 'r.yml').roles.get('r')!;
    expect(decideStatement(role, stmt([{ kind: 'select', object: 'public.u' }]))).toMatchObject({
      decision: 'deny',
      rule: null,
      reason: 'no rule of role r allows select on public.u',
    });
    const none = parsePolicy('version: 1\nroles:\n  r:\n    match: { a: b }\n', 'r.yml').roles.get('r')!;
    expect(decideStatement(none, stmt([{ kind: 'select' }])).decision).toBe('deny');
  });
});

describe('exact (dangerous) accesses', () => {
  const call = (object: string): Access => ({ kind: 'call', object, exact: true });

  it('are allowed only by a rule naming their kind and listing their object literally', () => {
    expect(d([call('pg_catalog.pg_read_file')])).toMatchObject({ decision: 'allow', rule: 'roles.app.postgres.rules[4]' });
  });

  it('a glob that would match does not count', () => {
    expect(d([call('pg_catalog.pg_ls_dir')])).toMatchObject({
      decision: 'deny',
      rule: null,
      reason: 'call on pg_catalog.pg_ls_dir is dangerous: only a rule naming kind call and object pg_catalog.pg_ls_dir exactly (no group, no glob) may allow it',
    });
    // …while the same access without `exact` is allowed by the glob.
    expect(d([{ kind: 'call', object: 'pg_catalog.pg_ls_dir' }]).decision).toBe('allow');
  });

  it('a group or `any` does not count, nor a rule without objects', () => {
    expect(decideStatement(exactRole, stmt([call('pg_catalog.pg_read_file')])).decision).toBe('deny');
    expect(decideStatement(exactRole, stmt([{ kind: 'copy_to', object: 'program:sh', exact: true }])).decision).toBe('deny');
    expect(decideStatement(exactRole, stmt([{ kind: 'call', object: 'pg_catalog.pg_read_file' }])).decision).toBe('allow');
  });

  it('an exact access without an object needs a rule naming its kind with no objects', () => {
    expect(decideStatement(exactRole, stmt([{ kind: 'do', exact: true }]))).toMatchObject({ decision: 'allow', rule: 'roles.exact.postgres.rules[0]' });
    expect(d([{ kind: 'do', exact: true }])).toMatchObject({ decision: 'deny', rule: null });
    expect(decideStatement(exactRole, stmt([{ kind: 'set', object: 'role', exact: true }]))).toMatchObject({ decision: 'allow', rule: 'roles.exact.postgres.rules[1]' });
    expect(decideStatement(exactRole, stmt([{ kind: 'set', object: 'session_authorization', exact: true }])).decision).toBe('deny');
  });
});

describe('always allowed', () => {
  it('transaction control, whatever the rules', () => {
    expect(d([{ kind: 'transaction' }])).toMatchObject({ decision: 'allow', rule: null, reason: 'transaction control is always allowed' });
  });

  it.each(['application_name', 'timezone', 'datestyle', 'intervalstyle', 'extra_float_digits', 'statement_timeout', 'lock_timeout'])(
    'SET and RESET of %s',
    (name) => {
      expect(d([{ kind: 'set', object: name }])).toMatchObject({ decision: 'allow', rule: null });
      expect(d([{ kind: 'reset', object: name }])).toMatchObject({ decision: 'allow', rule: null });
    },
  );

  it('but not other settings, RESET ALL, or an exact SET', () => {
    for (const object of ['search_path', 'role', 'session_authorization', 'client_encoding', 'all', 'Application_Name']) {
      expect(d([{ kind: 'set', object }]).decision, object).toBe('deny');
    }
    expect(d([{ kind: 'reset', object: 'all' }]).decision).toBe('deny');
    expect(d([{ kind: 'set', object: 'application_name', exact: true }]).decision).toBe('deny');
    expect(d([{ kind: 'transaction', exact: true }]).decision).toBe('deny');
  });
});

describe('statements and messages', () => {
  it('a statement takes its most restrictive access (deny > review > allow)', () => {
    const s = d([
      { kind: 'select', object: 'public.users' },
      { kind: 'update', object: 'public.orders' },
      { kind: 'insert', object: 'audit.log' },
    ]);
    expect(s).toMatchObject({ decision: 'review', rule: 'roles.app.postgres.rules[2]', decidingAccess: { kind: 'update', object: 'public.orders' } });
    const t = d([
      { kind: 'update', object: 'public.orders' },
      { kind: 'delete', object: 'public.users' },
    ]);
    expect(t).toMatchObject({ decision: 'deny', rule: 'roles.app.postgres.rules[7]', decidingAccess: { kind: 'delete', object: 'public.users' } });
  });

  it('an analysis error is a deny with its reason', () => {
    expect(d([], { error: 'unparsable SQL: syntax error at or near "FORM"', kind: 'other' })).toMatchObject({
      decision: 'deny',
      rule: null,
      reason: 'unparsable SQL: syntax error at or near "FORM"',
    });
    expect(d([{ kind: 'select', object: 'public.users' }], { error: 'not understood' }).decision).toBe('deny');
  });

  it('no accesses and no error is still a deny', () => {
    expect(d([])).toMatchObject({ decision: 'deny', reason: 'what the statement accesses could not be determined' });
  });

  it('a message is all or nothing', () => {
    const ok = stmt([{ kind: 'select', object: 'public.users' }]);
    const review = stmt([{ kind: 'update', object: 'public.orders' }]);
    const bad = stmt([{ kind: 'delete', object: 'public.users' }]);
    expect(decideAnalyses(app, [ok, ok]).decision).toBe('allow');
    expect(decideAnalyses(app, [ok, review]).decision).toBe('review');
    const m = decideAnalyses(app, [ok, review, bad]);
    expect(m.decision).toBe('deny');
    expect(m.statements.map((s) => s.decision)).toEqual(['allow', 'review', 'deny']);
    expect(decideAnalyses(app, []).decision).toBe('allow');
  });
});

describe('masks', () => {
  const out = (name: string, ...sources: string[]): OutputColumn => ({ name, sources });
  const masked = (...outputs: OutputColumn[]) => d([{ kind: 'select', object: 'public.users' }], { outputs }).masked;

  it('maskForColumn: full, table.column and column patterns, first mask wins', () => {
    expect(maskForColumn(app, 'public', 'users', 'email')).toEqual({ strategy: 'partial', column: 'public.users.email' });
    expect(maskForColumn(app, 'other', 'users', 'email')).toBeNull();
    expect(maskForColumn(app, 'hr', 'people', 'ssn')).toEqual({ strategy: 'redact', column: '*.ssn' });
    expect(maskForColumn(app, 'hr', 'users', 'phone')).toEqual({ strategy: 'hash', column: 'users.phone' });
    expect(maskForColumn(app, 'x', 'y', 'secret_key')).toEqual({ strategy: 'null', column: 'secret_*' });
    expect(maskForColumn(app, 'x', 'y', 'ssn_hint')).toBeNull();
    expect(maskForColumn(app, 'public', 'Users', 'email')).toBeNull();
  });

  it('through lineage: expressions and aliases keep their sources', () => {
    expect(masked(out('id', 'public.users.id'), out('e', 'public.users.email'), out('n', 'public.users.name'))).toEqual([
      { index: 1, name: 'e', strategy: 'partial', column: 'public.users.email' },
    ]);
  });

  it('a column mixing masked sources takes the strictest strategy', () => {
    expect(masked(out('k', 'public.users.email', 'public.users.ssn'))).toEqual([{ index: 0, name: 'k', strategy: 'redact', column: '*.ssn' }]);
    expect(masked(out('k', 'public.users.phone', 'public.users.email'))).toEqual([{ index: 0, name: 'k', strategy: 'hash', column: 'users.phone' }]);
  });

  it('a whole row (schema.table.*) matches any mask on that table', () => {
    // users holds email (partial) and maybe ssn (redact): the strictest applies to the whole row.
    expect(masked(out('row_to_json', 'public.users.u', 'public.users.*'))).toEqual([
      { index: 0, name: 'row_to_json', strategy: 'null', column: 'secret_*' },
    ]);
    // `*.ssn` and `secret_*` might be columns of any table: a whole row of any table is masked.
    expect(masked(out('o', 'public.orders.*'))).toEqual([{ index: 0, name: 'o', strategy: 'null', column: 'secret_*' }]);
    const only = parsePolicy('version: 1\nroles:\n  r:\n    match: { a: b }\n    postgres:\n      masks:\n        - { columns: [public.users.email], strategy: partial }\n        - { columns: [hr.people.ssn], strategy: redact }\n', 'm.yml').roles.get('r')!;
    expect(decideStatement(only, stmt([{ kind: 'select', object: 'public.users' }], { outputs: [out('u', 'public.users.*'), out('o', 'public.orders.*')] })).masked).toEqual([
      { index: 0, name: 'u', strategy: 'partial', column: 'public.users.email' },
    ]);
  });

  it('an unexpanded * is left to the catalog, and a masked column after it fails closed', () => {
    expect(masked(out('*', 'public.users.*'), out('id', 'public.users.id'))).toEqual([]);
    expect(masked(out('e', 'public.users.email'), out('*', 'public.users.*'))).toEqual([
      { index: 0, name: 'e', strategy: 'partial', column: 'public.users.email' },
    ]);
    const s = d([{ kind: 'select', object: 'public.users' }], { outputs: [out('*', 'public.users.*'), out('lower', 'public.users.email')] });
    expect(s).toMatchObject({
      decision: 'deny',
      rule: null,
      reason: 'result column "lower" carries masked data (public.users.email) but follows a *, so its position in the result is unknown: list the columns instead of *',
    });
  });

  it('no outputs, no masks', () => {
    expect(masked()).toEqual([]);
    expect(d([{ kind: 'select', object: 'public.users' }]).masked).toEqual([]);
  });
});

describe('EXECUTE and FETCH run what PREPARE and DECLARE defined', () => {
  const defEmail: NamedDefinition = {
    namespace: 'prepared',
    name: 'q',
    accesses: [{ kind: 'select', object: 'public.users' }],
    outputs: [{ name: 'email', sources: ['public.users.email'] }],
  };
  const defDelete: NamedDefinition = { namespace: 'prepared', name: 'q', accesses: [{ kind: 'delete', object: 'public.users' }], outputs: null };
  const prepare = (def: NamedDefinition) =>
    stmt([{ kind: 'prepare', object: def.name }, ...def.accesses], { kind: 'prepare', defines: def });
  const execute = stmt([{ kind: 'execute', object: 'q' }], { kind: 'execute', uses: { namespace: 'prepared', name: 'q' } });

  it('within one message, the definition decides and gives the columns', () => {
    const m = decideAnalyses(app, [prepare(defEmail), execute]);
    expect(m.decision).toBe('allow');
    expect(m.statements[0]!.defines).toEqual(defEmail);
    expect(m.statements[1]).toMatchObject({
      uses: { namespace: 'prepared', name: 'q' },
      accesses: [{ kind: 'execute', object: 'q' }, { kind: 'select', object: 'public.users' }],
      masked: [{ index: 0, name: 'email', strategy: 'partial', column: 'public.users.email' }],
    });
  });

  it('from the session when a lookup is given; an unknown name is denied', () => {
    expect(decideAnalyses(app, [execute], () => defEmail).statements[0]!.masked).toHaveLength(1);
    expect(decideAnalyses(app, [execute], () => defDelete)).toMatchObject({ decision: 'deny' });
    expect(decideAnalyses(app, [execute], () => undefined).statements[0]).toMatchObject({
      decision: 'deny',
      rule: null,
      reason: 'prepared statement "q" is not defined in this session',
    });
  });

  it('without a lookup, on its own accesses', () => {
    expect(decideAnalyses(app, [execute]).statements[0]).toMatchObject({ decision: 'allow', rule: 'roles.app.postgres.rules[6]', masked: [] });
  });
});
