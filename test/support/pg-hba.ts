// Makes the local test PostgreSQL ask for passwords from test roles, idempotently.
//
// The server trusts every connection from 127.0.0.1, so SCRAM, MD5 and cleartext authentication are
// never exercised unless pg_hba.conf says otherwise. PostgreSQL 15 has no user-name patterns in
// pg_hba.conf, so the rules name three group roles instead; a test role that should authenticate
// with a password is created `IN ROLE` one of them. Superusers are never matched by `+group`, so
// `postgres` keeps trust. The block goes before the first rule (rules are matched top down), the
// file is rewritten in place (owner and mode kept) under a lock file, and the server reloads.
//
// Needs: a superuser over trust at 127.0.0.1 (the CI setup) and write access to the hba file
// (CI runs as root on this machine). Any failure throws with what went wrong: no test is skipped.

import { closeSync, openSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import pg from 'pg';

export const HBA_GROUPS = {
  /** Members must authenticate with SCRAM-SHA-256. */
  scram: 'tollgate_auth_scram',
  /** Members get `md5` (the server still uses SCRAM when the role's stored password is SCRAM). */
  md5: 'tollgate_auth_md5',
  /** Members must send the password in cleartext. */
  password: 'tollgate_auth_password',
} as const;

const PROBE_ROLE = 'tollgate_auth_probe';
const BEGIN = '# tollgate-test BEGIN (test/support/pg-hba.ts: test roles that authenticate with a password)';
const END = '# tollgate-test END';
const BLOCK = [
  BEGIN,
  `host all +${HBA_GROUPS.scram} 127.0.0.1/32 scram-sha-256`,
  `host all +${HBA_GROUPS.md5} 127.0.0.1/32 md5`,
  `host all +${HBA_GROUPS.password} 127.0.0.1/32 password`,
  `host all ${PROBE_ROLE} 127.0.0.1/32 scram-sha-256`,
  END,
];

export const ADMIN = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' };

async function createRoleIfMissing(client: pg.Client, sql: string): Promise<void> {
  try {
    await client.query(sql);
  } catch (err) {
    // Another suite created it at the same moment: fine.
    const code = (err as { code?: string }).code;
    if (code !== '42710' && code !== '23505') throw err;
  }
}

function withFileLock<T>(path: string, work: () => T): T {
  const lock = `${path}.tollgate-test.lock`;
  const started = Date.now();
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx'));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (Date.now() - started > 10_000) throw new Error(`pg-hba: lock ${lock} held for over 10 s; remove it if stale`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    }
  }
  try {
    return work();
  } finally {
    unlinkSync(lock);
  }
}

/** The hba file's text with our block present (and exactly once) before the first rule. */
export function withBlock(text: string): string {
  const lines = text.split('\n');
  const start = lines.indexOf(BEGIN);
  if (start >= 0) {
    const end = lines.indexOf(END, start);
    if (end < 0) throw new Error('pg-hba: found the start of the tollgate-test block but not its end');
    lines.splice(start, end - start + 1);
  }
  const firstRule = lines.findIndex((l) => l.trim() !== '' && !l.trim().startsWith('#'));
  lines.splice(firstRule < 0 ? lines.length : firstRule, 0, ...BLOCK);
  return lines.join('\n');
}

async function probeRefusesTrust(): Promise<boolean> {
  const c = new pg.Client({ ...ADMIN, user: PROBE_ROLE, password: 'not-the-password', connectionTimeoutMillis: 5000 });
  try {
    await c.connect();
    await c.end();
    return false; // trust still applies: the block is not loaded
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === '28P01') return true;
    throw err;
  }
}

/**
 * Ensures the group roles and the hba block exist and are loaded. Returns the group role names:
 * `CREATE ROLE x LOGIN PASSWORD '…' IN ROLE ${groups.scram}`.
 */
export async function ensurePasswordAuth(): Promise<typeof HBA_GROUPS> {
  const admin = new pg.Client(ADMIN);
  await admin.connect();
  try {
    for (const group of Object.values(HBA_GROUPS)) {
      await createRoleIfMissing(admin, `CREATE ROLE ${group} NOLOGIN`);
    }
    // A login role without a password: it can never pass password authentication, so a refusal
    // proves the block is loaded.
    await createRoleIfMissing(admin, `CREATE ROLE ${PROBE_ROLE} LOGIN`);

    const hbaFile = (await admin.query<{ hba_file: string }>('SHOW hba_file')).rows[0]!.hba_file;
    const changed = withFileLock(hbaFile, () => {
      const text = readFileSync(hbaFile, 'utf8');
      const next = withBlock(text);
      if (next === text) return false;
      writeFileSync(hbaFile, next); // in place: owner and mode stay the server's
      return true;
    });
    const errors = await admin.query(
      `SELECT line_number, error FROM pg_hba_file_rules WHERE error IS NOT NULL`,
    );
    if (errors.rows.length > 0) throw new Error(`pg-hba: ${hbaFile} has errors: ${JSON.stringify(errors.rows)}`);
    if (changed || !(await probeRefusesTrust())) {
      await admin.query('SELECT pg_reload_conf()');
      // The postmaster applies SIGHUP asynchronously: wait until new connections see the block.
      const started = Date.now();
      while (!(await probeRefusesTrust())) {
        if (Date.now() - started > 10_000) throw new Error('pg-hba: the server did not apply the hba block within 10 s');
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return HBA_GROUPS;
  } finally {
    await admin.end();
  }
}
