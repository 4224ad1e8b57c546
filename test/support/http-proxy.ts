// A local upstream (node:http, records what reached it) and the HTTP listeners in front of it, for
// the HTTP proxy suites.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import type { Approver, ReviewOutcome, ReviewRequest } from '../../src/approval/types.js';
import type { AuditEntry } from '../../src/audit/types.js';
import { startHttpListeners, type RunningHttpListeners } from '../../src/http/listen.js';
import type { HttpExchange } from '../../src/http/proxy.js';
import type { UpstreamCredentials } from '../../src/http/upstream.js';
import { parsePolicy } from '../../src/policy/load.js';

export interface Seen {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  bodyBytes: number;
}

export async function startUpstream(handler?: (req: IncomingMessage, res: ServerResponse, seen: Seen) => void): Promise<{ server: Server; url: string; port: number; seen: Seen[]; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const s: Seen = { method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, bodyBytes: 0 };
    seen.push(s);
    if (handler) return handler(req, res, s);
    req.on('data', (c: Buffer) => { s.bodyBytes += c.length; });
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ method: req.method, url: req.url, bytes: s.bodyBytes }));
    });
  });
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    server, port, url: `http://127.0.0.1:${port}`, seen,
    // Upgraded sockets leave the HTTP server's bookkeeping: end every socket.
    close: () => new Promise<void>((r) => { server.close(() => r()); for (const s of sockets) s.destroy(); }),
  };
}

export class ScriptedApprover implements Approver {
  readonly asked: ReviewRequest[] = [];
  constructor(private readonly answer: (req: ReviewRequest) => ReviewOutcome | Promise<ReviewOutcome>) {}
  async review(req: ReviewRequest): Promise<ReviewOutcome> {
    this.asked.push(req);
    return this.answer(req);
  }
}

export interface Harness {
  running: RunningHttpListeners;
  url: (name: string) => string;
  port: (name: string) => number;
  records: AuditEntry[];
  exchanges: HttpExchange[];
  approver: ScriptedApprover;
  close: () => Promise<void>;
}

export const SECRET = 'session-secret-0123456789';

export async function startHarness(policyYaml: string, opts: {
  credentials?: Record<string, UpstreamCredentials>;
  approve?: (req: ReviewRequest) => ReviewOutcome | Promise<ReviewOutcome>;
  expiresAt?: Date;
  audit?: { appendLater: (build: () => AuditEntry) => void; writeError: unknown };
} = {}): Promise<Harness> {
  const policy = parsePolicy(policyYaml, 'test.yml');
  const role = [...policy.roles.values()][0]!;
  const records: AuditEntry[] = [];
  const exchanges: HttpExchange[] = [];
  const approver = new ScriptedApprover(opts.approve ?? (() => ({ approved: false, via: 'unavailable', reason: 'no reviewer in this test' })));
  const running = await startHttpListeners({
    role,
    session: { id: 'sess-1', secret: SECRET, expiresAt: opts.expiresAt ?? new Date(Date.now() + 3_600_000) },
    identity: { actor: 'tester' },
    approver,
    approvalTimeoutMs: 5_000,
    audit: opts.audit ?? { appendLater: (b) => records.push(b()), writeError: null },
    credentials: opts.credentials ?? {},
    onExchange: (ex) => exchanges.push(ex),
  });
  const byName = new Map(running.listeners.map((l) => [l.name, l]));
  return {
    running, records, exchanges, approver,
    url: (n) => byName.get(n)!.url,
    port: (n) => byName.get(n)!.port,
    close: () => running.close({ graceMs: 100 }),
  };
}

export const bearer = { authorization: `Bearer ${SECRET}` };

/** Sends raw bytes and returns everything the proxy answered until it closed (or `waitMs`). */
export function raw(port: number, bytes: string | Buffer, waitMs = 1500): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = connect(port, '127.0.0.1', () => s.write(bytes));
    const done = () => resolve(Buffer.concat(chunks).toString('latin1'));
    const timer = setTimeout(() => { s.destroy(); done(); }, waitMs);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('close', () => { clearTimeout(timer); done(); });
    s.on('error', () => {});
  });
}

/** The status line and JSON body of a raw answer. */
export function parseRaw(text: string): { status: number; body: unknown; head: string } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
  const i = text.indexOf('\r\n\r\n');
  const head = i < 0 ? text : text.slice(0, i);
  const rest = i < 0 ? '' : text.slice(i + 4);
  let body: unknown = rest;
  try { body = JSON.parse(rest); } catch { /* not JSON */ }
  return { status, body, head };
}
