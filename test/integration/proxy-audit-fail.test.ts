// Fail closed on the audit log: once the log reports a write error (AuditLog.writeError), every new
// statement is denied with `tollgate: denied: audit log unavailable` — Query, Parse, and Execute of
// a portal bound before. A ProxyConnection in front of the real test PostgreSQL with an audit
// object whose writeError the test controls (the disk cannot be made to fail on demand here).

import { createServer, type Server } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/audit/types.js';
import { sendCancel } from '../../src/pg/cancel.js';
import type { ProxyConfig } from '../../src/daemon/config.js';
import { CancelKeys } from '../../src/pg/cancel-keys.js';
import { ProxyConnection } from '../../src/proxy/connection.js';
import type { ConnectionDeps, EngineLike } from '../../src/proxy/deps.js';
import * as P from '../../src/pg/protocol.js';
import { ScramServer } from '../../src/pg/scram.js';
import { connectUpstream } from '../../src/pg/upstream.js';
import type { Decision } from '../../src/policy/types.js';
import { TEST_UPSTREAM } from '../support/proxy.js';
import { Wire, errors, rows } from '../fixtures/redteam/wire.js';

// Every statement allowed: only the audit log's state can deny.
const engine: EngineLike = {
  decide(sql: string): Decision {
    return { decision: 'allow', statements: [{ sql, kind: 'select', decision: 'allow', rule: 'r', reason: 'allowed', accesses: [], masked: [] }] };
  },
  maskForColumn: () => null,
};

const entries: AuditEntry[] = [];
let writeError: Error | null = null;
let server: Server;
let port = 0;
const password = 'audit-fail-pass';

beforeAll(async () => {
  const config: ProxyConfig = {
    listen: { host: '127.0.0.1', port: 0 },
    upstream: TEST_UPSTREAM,
    policyPath: '(none)',
    role: 'test',
    claims: { actor: 'tester' },
    session: { id: 's-audit', secret: password, expiresAt: new Date(Date.now() + 3600_000) },
    auditPath: '(memory)',
    approvalTimeoutMs: 1000,
    approval: { kind: 'none', reason: 'test' },
    maskKey: 'k',
  };
  const deps: ConnectionDeps = {
    config,
    engine,
    catalog: { resolve: () => Promise.reject(new Error('no catalog in this test')) },
    audit: {
      append: (e) => void entries.push(e),
      get writeError() {
        return writeError;
      },
    },
    approver: { review: async () => ({ approved: false, via: 'unavailable', reason: 'no one' }) },
    redact: (sql) => sql,
    maskValue: (_s, v) => v,
    maskKey: Buffer.from('k'),
    connectUpstream: (url, o) => connectUpstream(url, o),
    sendCancel: (url, k) => sendCancel(url, k),
    createScram: (s) => new ScramServer(s),
    cancelKeys: new CancelKeys(),
    logger: { info: () => {}, warn: () => {} },
    masksConfigured: false,
  };
  server = createServer((sock) => {
    sock.on('error', () => {});
    new ProxyConnection(sock, deps).start();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});

afterAll(() => {
  server?.close();
});

describe('audit log unavailable', () => {
  it('denies Query, Parse and Execute once writeError is set; the connection stays open', async () => {
    writeError = null;
    const w = await Wire.login(port, password);
    try {
      expect(rows(await w.query('SELECT 1'))).toEqual([['1']]);
      // A portal bound while the log worked …
      w.reset();
      w.send(P.parse('s', 'SELECT 2'), P.bind('p', 's'), P.sync());
      await w.ready();
      expect(errors(w.msgs)).toEqual([]);

      writeError = new Error('ENOSPC: no space left on device');
      const q = await w.query('SELECT 3');
      expect(errors(q).map((e) => [e.code, e.message])).toEqual([['42501', 'tollgate: denied: audit log unavailable']]);
      expect(rows(q)).toEqual([]);

      w.reset();
      w.send(P.parse('', 'SELECT 4'), P.bind('', ''), P.execute(''), P.sync());
      await w.ready();
      expect(errors(w.msgs).map((e) => [e.code, e.message])).toEqual([['42501', 'tollgate: denied: audit log unavailable']]);
      expect(rows(w.msgs)).toEqual([]);

      // … does not run either.
      w.reset();
      w.send(P.execute('p'), P.sync());
      await w.ready();
      expect(errors(w.msgs).map((e) => [e.code, e.message])).toEqual([['42501', 'tollgate: denied: audit log unavailable']]);
      expect(rows(w.msgs)).toEqual([]);

      writeError = null; // the writer recovered (the records were written after all)
      expect(rows(await w.query('SELECT 5'))).toEqual([['5']]);
    } finally {
      w.end();
    }
  });

  it('node-postgres sees 42501 too', async () => {
    writeError = new Error('EIO');
    const c = new pg.Client({ host: '127.0.0.1', port, user: 'tollgate', password, database: 'test' });
    await c.connect();
    try {
      await expect(c.query('SELECT 1')).rejects.toMatchObject({ code: '42501', message: 'tollgate: denied: audit log unavailable' });
      await expect(c.query({ text: 'SELECT $1::int', values: [1] })).rejects.toMatchObject({ code: '42501' });
    } finally {
      writeError = null;
      await c.end();
    }
  });
});
