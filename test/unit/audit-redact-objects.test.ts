// Literals inside access objects (red-team finding F9): COPY … TO/FROM a file or PROGRAM and LOAD carry
// the statement's string literal in the object (`program:echo …`), and the deny reason quotes it. The
// policy decides on the whole object; the audit log and the job summary keep only `file:?`,
// `program:?`, `load:?`.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/audit/log.js';
import { compileLiteralHider, redactLiteralObject, sanitizeEntry } from '../../src/audit/redact.js';
import { renderSummary } from '../../src/audit/summary.js';
import type { AuditEntry, AuditLine } from '../../src/audit/types.js';
import { verifyAuditFile } from '../../src/audit/verify.js';
import { parsePolicy } from '../../src/policy/load.js';
import { createEngine } from '../../src/policy/sql-analyzer.js';
import type { PolicyEngine } from '../../src/policy/engine.js';
import type { Decision } from '../../src/policy/types.js';

const POLICY = `version: 1
roles:
  r:
    match: { sub: x }
    postgres:
      rules:
        - { action: allow, kinds: [copy_to], objects: ["program:gzip > /backup/PLANTED-ok1.gz"] }
        - { action: allow, kinds: [read, copy_to], objects: ["public.*"] }
        - { action: deny,  kinds: [any] }
`;

let engine: PolicyEngine;
beforeAll(async () => {
  engine = await createEngine(parsePolicy(POLICY, 'f9.yml'), 'r');
});

/** The audit entry the proxy builds from a decision (one statement). */
function entryOf(sql: string, d: Decision): AuditEntry {
  const s = d.statements[0]!;
  return {
    time: '2026-11-30T05:00:00.000Z',
    session: 'sess-f9',
    identity: { repository: 'acme/app' },
    role: 'r',
    type: 'sql',
    statement: sql,
    accesses: s.accesses,
    decision: d.decision,
    rule: s.rule,
    reason: s.reason,
  };
}

const ATTACKS = [
  {
    sql: "COPY (SELECT 1) TO '/tmp/PLANTED-a18'",
    access: { kind: 'copy_to', object: 'file:?', exact: true },
    reason: 'copy_to on file:? is dangerous: only a rule naming kind copy_to and object file:? exactly (no group, no glob) may allow it',
  },
  {
    sql: "COPY (SELECT 1) TO PROGRAM 'echo PLANTED-a22'",
    access: { kind: 'copy_to', object: 'program:?', exact: true },
    reason: 'copy_to on program:? is dangerous: only a rule naming kind copy_to and object program:? exactly (no group, no glob) may allow it',
  },
  {
    sql: `COPY public.orders FROM PROGRAM 'curl -H "Authorization: Bearer PLANTED-tok"'`,
    access: { kind: 'copy_from', object: 'program:?', exact: true },
    reason: 'copy_from on program:? is dangerous: only a rule naming kind copy_from and object program:? exactly (no group, no glob) may allow it',
  },
  {
    sql: "LOAD 'PLANTED-a21'",
    access: { kind: 'other', object: 'load:?', exact: true },
    reason: 'other on load:? is dangerous: only a rule naming kind other and object load:? exactly (no group, no glob) may allow it',
  },
];

describe('the engine still decides on the whole object', () => {
  it('sees the literal (a rule naming one program allows only that one)', () => {
    const d = engine.decide("COPY (SELECT 1) TO PROGRAM 'echo PLANTED-a22'");
    expect(d.decision).toBe('deny');
    expect(d.statements[0]!.accesses).toContainEqual({ kind: 'copy_to', object: 'program:echo PLANTED-a22', exact: true });
    const ok = engine.decide("COPY public.orders TO PROGRAM 'gzip > /backup/PLANTED-ok1.gz'");
    expect(ok.decision).toBe('allow');
    expect(ok.statements[0]!.reason).toBe('copy_to on program:gzip > /backup/PLANTED-ok1.gz allowed by roles.r.postgres.rules[0]');
  });
});

describe('sanitizeEntry', () => {
  for (const a of ATTACKS) {
    it(`keeps the kind and drops the literal: ${a.sql.slice(0, 40)}`, () => {
      const raw = entryOf(a.sql, engine.decide(a.sql));
      expect(JSON.stringify(raw)).toContain('PLANTED'); // the engine's own record has it
      const clean = sanitizeEntry(raw);
      expect(JSON.stringify(clean)).not.toContain('PLANTED');
      expect(clean.accesses).toContainEqual(a.access);
      expect(clean.reason).toBe(a.reason);
      expect(clean.decision).toBe('deny');
      // The caller's entry (and so the decision) is left alone.
      expect(JSON.stringify(raw)).toContain('PLANTED');
    });
  }

  it('an allowed program: the reason that names it is redacted too', () => {
    const sql = "COPY public.orders TO PROGRAM 'gzip > /backup/PLANTED-ok1.gz'";
    const clean = sanitizeEntry(entryOf(sql, engine.decide(sql)));
    expect(JSON.stringify(clean)).not.toContain('PLANTED');
    expect(clean.reason).toBe('copy_to on program:? allowed by roles.r.postgres.rules[0]');
    expect(clean.accesses).toEqual([
      { kind: 'copy_to', object: 'program:?', exact: true },
      { kind: 'copy_to', object: 'public.orders' },
      { kind: 'select', object: 'public.orders' },
    ]);
  });

  it('scrubs the bare literal from the reason and the approval reason', () => {
    const clean = sanitizeEntry({
      time: 't',
      session: 's',
      identity: {},
      role: 'r',
      type: 'sql',
      decision: 'review',
      accesses: [{ kind: 'copy_from', object: 'file:/srv/PLANTED-b1.csv', exact: true }],
      reason: 'cannot read "/srv/PLANTED-b1.csv" (file:/srv/PLANTED-b1.csv)',
      approval: { id: '1', approved: false, via: 'github', reason: 'no, not /srv/PLANTED-b1.csv' },
    });
    expect(clean.reason).toBe('cannot read "?" (file:?)');
    expect(clean.approval?.reason).toBe('no, not ?');
    expect(JSON.stringify(clean)).not.toContain('PLANTED');
  });

  it('leaves names alone, and still replaces secrets', () => {
    const clean = sanitizeEntry(
      {
        time: 't',
        session: 's',
        identity: {},
        role: 'r',
        type: 'sql',
        decision: 'deny',
        accesses: [
          { kind: 'select', object: 'public.orders' },
          { kind: 'create', object: 'role:bob' },
          { kind: 'copy_to', object: 'program:psql postgres://u:PLANTED-pw@h', exact: true },
        ],
        reason: 'no rule of role r allows create on role:bob',
      },
      ['PLANTED-pw'],
    );
    expect(clean.accesses).toEqual([
      { kind: 'select', object: 'public.orders' },
      { kind: 'create', object: 'role:bob' },
      { kind: 'copy_to', object: 'program:?', exact: true },
    ]);
    expect(clean.reason).toBe('no rule of role r allows create on role:bob');
  });

  it('redactLiteralObject and compileLiteralHider', () => {
    expect(redactLiteralObject('file:/etc/passwd')).toBe('file:?');
    expect(redactLiteralObject('program:')).toBe('program:?');
    expect(redactLiteralObject('load:$libdir/plugin\nPLANTED')).toBe('load:?');
    expect(redactLiteralObject('public.file')).toBe('public.file');
    expect(compileLiteralHider(undefined)('file:x')).toBe('file:x');
    expect(compileLiteralHider([{ kind: 'other', object: 'load:PLANTED-l' }])('load:PLANTED-l; PLANTED-l')).toBe('load:?; ?');
    // A literal containing another is replaced whole.
    const hide = compileLiteralHider([
      { kind: 'copy_to', object: 'file:/a/PLANTED' },
      { kind: 'copy_to', object: 'file:/a/PLANTED-longer' },
    ]);
    expect(hide('copy_to on file:/a/PLANTED-longer; /a/PLANTED-longer')).toBe('copy_to on file:?; ?');
  });
});

describe('AuditLog → file contents and job summary', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'audit-f9-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('no planted literal reaches the file, the chain verifies, the summary is clean', async () => {
    const path = join(dir, 'audit.jsonl');
    const log = await AuditLog.open(path, { session: 'sess-f9' });
    const appended: AuditLine[] = [];
    for (const a of [...ATTACKS.map((x) => x.sql), "COPY public.orders TO PROGRAM 'gzip > /backup/PLANTED-ok1.gz'"]) {
      appended.push(log.append(entryOf(a, engine.decide(a))));
    }
    await log.close();
    const text = await readFile(path, 'utf8');
    expect(text.split('\n').filter(Boolean)).toHaveLength(5);
    expect(text).not.toContain('PLANTED');
    expect(text).toContain('"object":"program:?"');
    expect(text).toContain('"object":"file:?"');
    expect(text).toContain('"object":"load:?"');
    expect(await verifyAuditFile(path)).toEqual({ ok: true, count: 5, head: appended[4]!.hash });
    const summary = renderSummary(appended, { sessionId: 'sess-f9', role: 'r', verified: true });
    expect(summary).toContain('program:?');
    expect(summary).not.toContain('PLANTED');
  });
});
