// The proxy in front of an upstream that asks for a password (SCRAM-SHA-256, a role the test
// creates): clients never see the upstream credentials, the audit log never holds them, and a
// wrong upstream password ends the client's session with a clear error.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN, ensurePasswordAuth } from '../support/pg-hba.js';
import { startTestProxy } from '../support/proxy.js';

const ROLE = `tg_proxy_scram_${process.pid}`;
const PASSWORD = `Up-${process.pid}-s3cret!`;
const policy = `
version: 1
roles:
  test:
    match: { repository: acme/* }
    postgres:
      rules:
        - { action: allow, kinds: [read], objects: ["pg_catalog.*"] }
        - { action: deny, kinds: [any] }
`;

async function admin(sql: string): Promise<void> {
  const c = new pg.Client(ADMIN);
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

beforeAll(async () => {
  const groups = await ensurePasswordAuth();
  await admin(`DROP ROLE IF EXISTS ${ROLE}`);
  await admin(`SET password_encryption = 'scram-sha-256'; CREATE ROLE ${ROLE} LOGIN PASSWORD '${PASSWORD}' IN ROLE ${groups.scram}`);
});

afterAll(async () => {
  await admin(`DROP ROLE IF EXISTS ${ROLE}`);
});

describe('SCRAM upstream', () => {
  it('opens the upstream session as the configured role; the client only knows the session secret', async () => {
    const upstream = `postgres://${ROLE}:${encodeURIComponent(PASSWORD)}@127.0.0.1:5432/test`;
    const proxy = await startTestProxy({ policy, upstream });
    try {
      const c = new pg.Client(proxy.pg);
      await c.connect();
      const r = await c.query('SELECT current_user AS u, session_user AS s');
      expect(r.rows).toEqual([{ u: ROLE, s: ROLE }]);
      await c.end();
      await new Promise((res) => setTimeout(res, 200));
      const text = JSON.stringify((await proxy.audit()));
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(encodeURIComponent(PASSWORD));
    } finally {
      await proxy.stop();
    }
  });

  it('ends the client session with 08006 when the upstream refuses the password', async () => {
    const upstream = `postgres://${ROLE}:wrong-password@127.0.0.1:5432/test`;
    const proxy = await startTestProxy({ policy, upstream });
    try {
      const c = new pg.Client(proxy.pg);
      await expect(c.connect()).rejects.toMatchObject({ code: '08006', message: 'tollgate: cannot connect to the upstream database' });
      await new Promise((res) => setTimeout(res, 200));
      const lines = (await proxy.audit());
      expect(lines.some((l) => l.type === 'connect' && l.decision === 'error')).toBe(true);
      expect(JSON.stringify(lines)).not.toContain('wrong-password');
    } finally {
      await proxy.stop();
    }
  });
});
