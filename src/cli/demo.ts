// `tollgate demo`: the product working with no set-up. An embedded PostgreSQL (PGlite) with sample
// data is the upstream, the proxy enforces policies/demo.yml in front of it, and approvals are
// answered in this terminal. `--tour` runs a scripted tour non-interactively and prints each outcome.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Approver, ReviewOutcome, ReviewRequest } from '../approval/types.js';
import { TerminalApprover } from '../approval/terminal.js';
import { verifyAuditFile } from '../audit/verify.js';
import { startProxy } from '../daemon/server.js';
import type { ProxyConfig } from '../daemon/config.js';
import { parseFlags } from './args.js';

const SAMPLE_DATA = `
  CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL, email text NOT NULL, ssn text);
  CREATE TABLE orders (id int PRIMARY KEY, user_id int REFERENCES users(id), amount numeric(10,2), status text);
  INSERT INTO users VALUES
    (1, 'Ada Lovelace', 'ada@example.com', '123-45-6789'),
    (2, 'Alan Turing', 'alan@example.com', '987-65-4321'),
    (3, 'Grace Hopper', 'grace@example.com', '555-12-3456');
  INSERT INTO orders VALUES
    (100, 1, 42.00, 'paid'), (101, 2, 17.50, 'pending'), (102, 3, 99.99, 'paid');
`;

/** Where policies/ sits: next to dist/ when bundled, two levels up from src/cli/ in development. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, 'policies', 'demo.yml'))) return dir;
    dir = resolve(dir, '..');
  }
  throw new Error('cannot find policies/demo.yml next to the tollgate package');
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => res(port));
    });
  });
}

/** The tour's stand-in reviewer: approves the first request it sees and denies the next. */
class ScriptedReviewer implements Approver {
  private answered = 0;
  constructor(private readonly say: (line: string) => void) {}
  async review(req: ReviewRequest): Promise<ReviewOutcome> {
    const approved = this.answered++ === 0;
    this.say(`   reviewer sees: ${req.kind} on ${req.object ?? '-'} — ${req.statement}`);
    this.say(`   reviewer answers: ${approved ? 'approve' : 'deny'} ${req.id}`);
    return { approved, via: 'terminal', approver: 'tour-reviewer', at: new Date(), where: 'terminal' };
  }
}

const TOUR: { title: string; sql: string }[] = [
  { title: 'read orders (allowed)', sql: 'SELECT id, amount, status FROM orders ORDER BY id' },
  { title: 'read users: email and ssn are masked', sql: 'SELECT name, email, ssn FROM users ORDER BY id' },
  { title: 'a computed column from a masked one is masked too', sql: 'SELECT lower(email) AS e FROM users ORDER BY id' },
  { title: 'delete users (denied)', sql: 'DELETE FROM users WHERE id = 1' },
  { title: 'a stacked statement hidden after a read (whole message denied)', sql: "SELECT 'a\\' ; DELETE FROM users; --'" },
  { title: 'read a server file (denied)', sql: "SELECT pg_read_file('/etc/passwd')" },
  { title: 'update an order (held for review, approved)', sql: "UPDATE orders SET status = 'shipped' WHERE id = 100" },
  { title: 'update another order (held for review, denied)', sql: "UPDATE orders SET status = 'void' WHERE id = 101" },
  { title: 'drop a table (denied)', sql: 'DROP TABLE orders' },
];

export async function run(argv: string[], out: (line: string) => void = (line) => process.stdout.write(line + '\n')): Promise<number> {
  const flags = parseFlags(argv, { boolean: ['tour'], string: ['listen', 'role'] });
  const tour = Boolean(flags.tour);
  const root = packageRoot();
  const policyPath = join(root, 'policies', 'demo.yml');

  out('tollgate demo: starting an embedded PostgreSQL (PGlite) with sample data …');
  // Loaded lazily: PGlite is large and only the demo needs it.
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const db = await PGlite.create();
  await db.exec(SAMPLE_DATA);
  const upstreamPort = await freePort();
  const socketServer = new PGLiteSocketServer({ db, host: '127.0.0.1', port: upstreamPort, maxConnections: 16 });
  await socketServer.start();

  const listen = String(flags.listen ?? (tour ? `127.0.0.1:${await freePort()}` : '127.0.0.1:6432'));
  const [host, portText] = listen.split(':');
  const secret = randomBytes(12).toString('base64url');
  const auditPath = join(mkdtempSync(join(tmpdir(), 'tollgate-demo-')), 'audit.jsonl');
  const config: ProxyConfig = {
    listen: { host: host || '127.0.0.1', port: Number(portText) },
    upstream: `postgres://postgres@127.0.0.1:${upstreamPort}/postgres?sslmode=disable`,
    policyPath,
    role: String(flags.role ?? 'demo'),
    claims: { repository: 'acme/demo', actor: 'you', ref: 'refs/heads/main', workflow: 'demo', event_name: 'workflow_dispatch' },
    session: { id: `demo-${randomBytes(4).toString('hex')}`, secret, expiresAt: new Date(Date.now() + 60 * 60_000) },
    auditPath,
    approvalTimeoutMs: tour ? 10_000 : 5 * 60_000,
    approval: { kind: 'terminal' },
    maskKey: randomBytes(32).toString('base64url'),
  };
  const approver: Approver = tour ? new ScriptedReviewer(out) : new TerminalApprover({ input: process.stdin, output: process.stdout });
  const proxy = await startProxy(config, { approver });

  const stop = async () => {
    await proxy.close();
    await socketServer.stop();
    await db.close();
  };

  if (!tour) {
    out(`tollgate demo: proxy listening on ${config.listen.host}:${proxy.port}, enforcing ${policyPath}`);
    out('Connect with:');
    out(`  PGPASSWORD=${secret} psql "host=${config.listen.host} port=${proxy.port} user=tollgate dbname=postgres sslmode=disable"`);
    out('Try: SELECT * FROM users;   DELETE FROM users;   UPDATE orders SET status = \'x\' WHERE id = 100;');
    out(`Approvals are asked here. Audit log: ${auditPath}. Ctrl-C to stop.`);
    await new Promise<void>((res) => {
      process.once('SIGINT', res);
      process.once('SIGTERM', res);
    });
    await stop();
    const v = await verifyAuditFile(auditPath);
    out(v.ok ? `audit: ${v.count} records, chain intact (${auditPath})` : `audit: line ${v.line}: ${v.reason}`);
    return 0;
  }

  const client = new pg.Client({ host: config.listen.host, port: proxy.port, user: 'tollgate', password: secret, database: 'postgres' });
  await client.connect();
  let step = 0;
  for (const { title, sql } of TOUR) {
    out(`\n${++step}. ${title}\n   sql> ${sql}`);
    try {
      const r = await client.query({ text: sql, rowMode: 'array' });
      if (r.rows.length) for (const row of r.rows) out(`   ${row.map((v: unknown) => (v === null ? 'NULL' : String(v))).join(' | ')}`);
      out(`   → allowed: ${r.command} ${r.rowCount ?? 0}`);
    } catch (e) {
      out(`   → ${(e as Error).message}`);
    }
  }
  await client.end();
  await stop();
  const v = await verifyAuditFile(auditPath);
  out(`\naudit log ${auditPath}: ${v.ok ? `${v.count} records, hash chain intact` : `BROKEN at line ${v.line}: ${v.reason}`}`);
  return v.ok ? 0 : 1;
}
