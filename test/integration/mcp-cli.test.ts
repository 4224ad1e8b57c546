// `tollgate mcp` as a process (dist/cli.js), as an agent's MCP client configuration starts it: over
// stdio with raw JSON-RPC lines (malformed, batches, duplicate ids, oversized), and over streamable
// HTTP on loopback with the session secret, in front of a server reached over streamable HTTP.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { verifyAuditFile } from '../../src/audit/verify.js';
import { textOf } from '../support/mcp.js';

const dir = mkdtempSync(join(tmpdir(), 'tollgate-mcp-cli-'));
const POLICY = 'test/fixtures/policies/mcp.yml';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

/** A raw stdio session with `tollgate mcp` around the evil server: send lines, read replies by id. */
class Raw {
  child: ChildProcessWithoutNullStreams;
  replies: Record<string, unknown>[] = [];
  stderr = '';
  exited: Promise<number | null>;
  constructor(readonly audit: string) {
    this.child = spawn('node', ['dist/cli.js', 'mcp', '--policy', POLICY, '--role', 'agent', '--server', 'everything', '--audit', audit, '--', 'node', 'test/fixtures/mcp/evil-server.mjs'], { stdio: 'pipe' });
    createInterface({ input: this.child.stdout }).on('line', (l) => this.replies.push(JSON.parse(l) as Record<string, unknown>));
    this.child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.child.stdin.on('error', () => {}); // the oversized case closes the pipe mid-write
    this.exited = new Promise((r) => this.child.on('exit', (code) => r(code)));
  }
  send(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }
  async reply(pred: (m: Record<string, unknown>) => boolean, ms = 60_000): Promise<Record<string, unknown>> {
    const end = Date.now() + ms;
    for (;;) {
      const m = this.replies.find(pred);
      if (m) return m;
      if (Date.now() > end) throw new Error(`no reply; got ${JSON.stringify(this.replies)} stderr ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

describe('tollgate mcp over stdio, raw JSON-RPC from a hostile client', () => {
  let raw: Raw;
  beforeAll(async () => {
    raw = new Raw(join(dir, 'stdio.jsonl'));
    raw.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }));
    await raw.reply((m) => m.id === 1, 90_000);
    raw.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
  }, 120_000);
  afterAll(() => raw?.child.kill());

  it('not JSON: -32700 with id null', async () => {
    raw.send('{"jsonrpc": "2.0", "id": 5, "method": "tools/list"');
    expect(await raw.reply((m) => m.id === null && (m.error as { code: number }).code === -32700)).toEqual({
      jsonrpc: '2.0', id: null, error: { code: -32700, message: 'tollgate: refused: the message is not valid JSON' },
    });
  });

  it('a batch: -32600 with id null, nothing in it runs', async () => {
    raw.send(JSON.stringify([{ jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'count', arguments: {} } }]));
    expect(await raw.reply((m) => m.id === null && (m.error as { code: number }).code === -32600)).toMatchObject({
      error: { message: 'tollgate: refused: the message is not a single JSON-RPC 2.0 message (batches are not part of MCP)' },
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(raw.replies.find((m) => m.id === 6)).toBeUndefined();
  });

  it('a duplicate id while the first is in flight: -32600 for the second, the first answered once', async () => {
    raw.send(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list' }));
    raw.send(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list' }));
    await raw.reply((m) => m.id === 7 && 'result' in m);
    const dup = await raw.reply((m) => m.id === 7 && 'error' in m);
    expect(dup).toEqual({ jsonrpc: '2.0', id: 7, error: { code: -32600, message: 'tollgate: refused: duplicate request id 7: a request with this id is still in flight' } });
    expect(raw.replies.filter((m) => m.id === 7 && 'result' in m)).toHaveLength(1);
    raw.send(JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'echo', arguments: { message: 'after' } } }));
    expect(textOf((await raw.reply((m) => m.id === 8)).result)).toBe('Echo: after');
  });

  it('a response or notification the client invents is dropped; an unknown method gets -32001', async () => {
    raw.send(JSON.stringify({ jsonrpc: '2.0', id: 4242, result: {} }));
    raw.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' }));
    raw.send(JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'sampling/createMessage', params: {} }));
    expect(await raw.reply((m) => m.id === 9)).toEqual({ jsonrpc: '2.0', id: 9, error: { code: -32001, message: 'tollgate: denied: method sampling/createMessage is not passed on by tollgate' } });
  });

  it('an oversized line ends the session with a clear message; the audit chain is intact', async () => {
    raw.send(`{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"echo","arguments":{"message":"${'a'.repeat(9 * 1024 * 1024)}"}}}`);
    expect(await raw.exited).toBe(0);
    expect(raw.stderr).toMatch(/ReadBuffer exceeded maximum size of 8388608 bytes/);
    expect(await verifyAuditFile(raw.audit)).toMatchObject({ ok: true });
    const lines = readFileSync(raw.audit, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.mcp?.outcome === 'refused').map((l) => l.reason)).toEqual(expect.arrayContaining([
      'the message is not valid JSON',
      'the message is not a single JSON-RPC 2.0 message (batches are not part of MCP)',
      'duplicate request id 7: a request with this id is still in flight',
    ]));
    expect(lines.some((l) => /ReadBuffer exceeded/.test(l.reason ?? ''))).toBe(true);
  }, 120_000);
});

describe('tollgate mcp over streamable HTTP, both sides', () => {
  let upstream: ChildProcessWithoutNullStreams;
  let wrapper: ChildProcessWithoutNullStreams;
  let url = '';
  const secret = 'test-secret-5d1e9c';
  beforeAll(async () => {
    const port = await freePort();
    upstream = spawn('node', ['node_modules/@modelcontextprotocol/server-everything/dist/index.js', 'streamableHttp'], { env: { ...process.env, PORT: String(port) }, stdio: 'pipe' });
    await new Promise<void>((resolve) => upstream.stderr.on('data', (d: Buffer) => /listening on port/.test(d.toString()) && resolve()));
    wrapper = spawn('node', ['dist/cli.js', 'mcp', '--policy', POLICY, '--role', 'agent', '--server', 'everything', '--audit', join(dir, 'http.jsonl'), '--listen', '127.0.0.1:0', '--url', `http://127.0.0.1:${port}/mcp`], {
      env: { ...process.env, TOLLGATE_MCP_SECRET: secret }, stdio: 'pipe',
    });
    url = await new Promise<string>((resolve) => createInterface({ input: wrapper.stdout }).on('line', (l) => {
      const m = /listening on (\S+)/.exec(l);
      if (m) resolve(m[1]!);
    }));
  }, 60_000);
  afterAll(() => {
    wrapper?.kill();
    upstream?.kill();
  });

  it('the SDK client with the secret lists and calls through; denials as over stdio', async () => {
    const client = new Client({ name: 'agent', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${secret}` } } }));
    expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['echo', 'get-sum', 'trigger-long-running-operation']);
    expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'over http' } }))).toBe('Echo: over http');
    expect(textOf(await client.callTool({ name: 'get-env', arguments: {} }))).toMatch(/^tollgate: denied: /);
    await client.close();
  });

  it('without the secret: 401; a foreign Host or Origin: 403', async () => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } });
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const none = await fetch(url, { method: 'POST', headers, body });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="tollgate"');
    const wrong = await fetch(url, { method: 'POST', headers: { ...headers, authorization: 'Bearer nope' }, body });
    expect(wrong.status).toBe(401);
    const origin = await fetch(url, { method: 'POST', headers: { ...headers, authorization: `Bearer ${secret}`, origin: 'https://evil.example' }, body });
    expect(origin.status).toBe(403);
    expect(await origin.json()).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'tollgate: refused: cross-origin request' } });
  });
});
