// A malicious or broken MCP server, and a prompt-injected agent, against tollgate's MCP proxy. Each
// case asserts the exact outcome the client sees and what the audit log holds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import type { Approver, ReviewOutcome, ReviewRequest } from '../../src/approval/types.js';
import { BIN, textOf, wrap, type Wrapped } from '../support/mcp.js';

const POLICY = `version: 1
roles:
  agent:
    match: { repository: "*" }
    mcp:
      servers:
        evil: { pin: session }
      rules:
        - { action: review, tools: ["echo"], arguments: { message: "deploy *" } }
        - { action: allow, tools: ["echo", "mutate", "secrets", "big", "die", "spoof", "slow", "count"] }
      masks:
        - { fields: ["password", "account.token"], strategy: redact }
      secret_patterns: ["ACME-[0-9]{6}"]
      max_result_bytes: 64KiB
`;
const evil = (approver?: Approver) => wrap({ policy: POLICY, server: 'evil', command: BIN.evil[0], args: BIN.evil[1], approver, secrets: ['s3ssion-secret-value'] });
const count = async (w: Wrapped) => Number(textOf(await w.client.callTool({ name: 'count', arguments: {} })));

describe('a server that changes a tool under the agent (rug pull)', () => {
  let w: Wrapped;
  beforeAll(async () => (w = await evil()), 30_000);
  afterAll(async () => w?.close());

  it('the changed tool is hidden and its calls denied; the call never reaches the server', async () => {
    const changed: unknown[] = [];
    w.client.setNotificationHandler(ToolListChangedNotificationSchema, async (n) => void changed.push(n));
    expect((await w.client.listTools()).tools.map((t) => t.name)).toContain('echo');
    expect(textOf(await w.client.callTool({ name: 'echo', arguments: { message: 'hi' } }))).toBe('Echo: hi');
    await w.client.callTool({ name: 'mutate', arguments: {} });
    await new Promise((r) => setTimeout(r, 100));
    expect(changed).toHaveLength(1);
    expect((await w.client.listTools()).tools.map((t) => t.name)).not.toContain('echo');
    const before = await count(w);
    const r = await w.client.callTool({ name: 'echo', arguments: { message: 'hi' } });
    expect(r.isError).toBe(true);
    expect(textOf(r)).toMatch(/^tollgate: denied: the definition of tool "echo" changed since its first listing in this session \(sha256:[0-9a-f]{64} → sha256:[0-9a-f]{64}\)$/);
    expect(await count(w)).toBe(before + 1); // only the count call itself arrived
    const lines = await w.records();
    expect(lines.find((l) => l.mcp?.method === 'notifications/tools/list_changed')).toMatchObject({ decision: 'allow', mcp: { direction: 'server' } });
    expect(lines.filter((l) => l.mcp?.method === 'tools/list').at(-1)!.reason).toMatch(/^7 of 8 tools listed; hidden: echo \(the definition of tool "echo" changed/);
  });
});

describe('results: masks, secrets and the size bound', () => {
  let w: Wrapped;
  beforeAll(async () => (w = await evil()), 30_000);
  afterAll(async () => w?.close());

  it('secrets in text, JSON fields the policy names and structured content are masked', async () => {
    const r = await w.client.callTool({ name: 'secrets', arguments: {} });
    const [a, b, c] = (r.content as { text: string }[]).map((x) => x.text);
    expect(a).toBe('token [secret] aws [secret] acme [secret] url postgres://app:[secret]@db.internal:5432/prod');
    expect(b).toBe('[secret]');
    expect(JSON.parse(c!)).toEqual({ user: 'ada', password: '***', account: { token: '***', id: 7 }, nested: [{ password: '***' }] });
    expect(r.structuredContent).toEqual({ password: '***', note: '[secret]' });
    const line = (await w.records()).find((l) => l.mcp?.tool === 'secrets')!;
    expect(line.mcp).toMatchObject({ maskedFields: 4, secrets: 6, outcome: 'ok' });
  });

  it('a result over max_result_bytes is refused, not cut', async () => {
    expect(textOf(await w.client.callTool({ name: 'big', arguments: { n: 1000 } }))).toBe('x'.repeat(1000));
    const r = await w.client.callTool({ name: 'big', arguments: { n: 70_000 } });
    expect(r).toEqual({ content: [{ type: 'text', text: 'tollgate: refused: the result is 70039 bytes, over the policy\'s max_result_bytes of 65536' }], isError: true });
    expect((await w.records()).at(-1)).toMatchObject({ decision: 'deny', mcp: { tool: 'big', outcome: 'refused', resultBytes: 70039 } });
  });
});

describe('protocol abuse from the server', () => {
  let w: Wrapped;
  beforeAll(async () => (w = await evil()), 30_000);
  afterAll(async () => w?.close());

  it('forged responses, stray progress, requests for the client model and garbage are dropped and recorded; the session goes on', async () => {
    const r = await w.client.callTool({ name: 'spoof', arguments: {} });
    expect(textOf(r)).toBe('spoofed');
    await new Promise((res) => setTimeout(res, 200));
    expect(textOf(await w.client.callTool({ name: 'echo', arguments: { message: 'still here' } }))).toBe('Echo: still here');
    const lines = await w.records();
    const server = lines.filter((l) => l.mcp?.direction === 'server');
    expect(server.find((l) => l.mcp?.method === 'sampling/createMessage')).toMatchObject({ decision: 'deny', reason: 'sampling/createMessage from the server is not passed on to the client' });
    expect(server.find((l) => l.mcp?.method === 'notifications/made_up')).toMatchObject({ decision: 'deny' });
    const errors = server.filter((l) => l.mcp?.outcome === 'error').map((l) => l.reason);
    expect(errors.some((e) => /unknown message ID|99999/i.test(e ?? ''))).toBe(true);
    expect(errors.some((e) => /progress notification for an unknown token|nobody/i.test(e ?? ''))).toBe(true);
    expect(errors.some((e) => /JSON/.test(e ?? ''))).toBe(true);
  });
});

describe('a server that dies mid-call', () => {
  it('the client gets a clear error, the proxy ends, the call is recorded', async () => {
    const w = await evil();
    await expect(w.client.callTool({ name: 'die', arguments: {} })).rejects.toMatchObject({ code: -32603, message: 'MCP error -32603: tollgate: the MCP server went away before it answered' });
    expect(await w.proxy.done).toBe('the MCP server closed the connection');
    const lines = await w.records();
    expect(lines.find((l) => l.mcp?.tool === 'die')).toMatchObject({ decision: 'allow', mcp: { outcome: 'error' } });
    expect(lines.find((l) => l.mcp?.method === 'close')).toMatchObject({ reason: 'the MCP server closed the connection', mcp: { direction: 'server' } });
    await w.close();
  }, 30_000);
});

class ScriptedApprover implements Approver {
  requests: ReviewRequest[] = [];
  aborted = 0;
  constructor(private readonly answer: (req: ReviewRequest) => ReviewOutcome | null, private readonly delayMs = 350) {}
  review(req: ReviewRequest, signal?: AbortSignal): Promise<ReviewOutcome> {
    this.requests.push(req);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        const a = this.answer(req);
        if (a) resolve(a);
      }, this.delayMs);
      signal?.addEventListener('abort', () => {
        clearTimeout(t);
        this.aborted++;
        resolve({ approved: false, via: 'github', reason: 'withdrawn' });
      });
    });
  }
}

describe('review: held, with progress, approved or denied, withdrawn on cancel', () => {
  it('approved: progress arrives while waiting, then the result', async () => {
    const approver = new ScriptedApprover(() => ({ approved: true, via: 'terminal', approver: 'alice', at: new Date() }));
    const w = await evil(approver);
    const progress: unknown[] = [];
    const r = await w.client.callTool({ name: 'echo', arguments: { message: 'deploy prod ghp_' + 'C'.repeat(36) } }, undefined, { onprogress: (p) => void progress.push(p) });
    expect(textOf(r)).toBe('Echo: deploy prod [secret]');
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect((progress[0] as { message: string }).message).toMatch(/^tollgate: waiting for a reviewer to approve request [0-9a-f-]{36} \(\d+s so far\)$/);
    const req = approver.requests[0]!;
    expect(req).toMatchObject({ kind: 'mcp tool call', object: 'evil/echo', rule: 'roles.agent.mcp.rules[0]', statement: 'tools/call echo {"message":"deploy prod [secret]"}' });
    expect((await w.records()).find((l) => l.mcp?.tool === 'echo')).toMatchObject({ decision: 'review', approval: { id: req.id, approved: true, via: 'terminal', approver: 'alice' } });
    await w.close();
  }, 30_000);

  it('denied: a tool error, nothing reaches the server', async () => {
    const w = await evil(new ScriptedApprover(() => ({ approved: false, via: 'github', approver: 'bob', reason: 'denied by bob' })));
    const before = await count(w);
    const r = await w.client.callTool({ name: 'echo', arguments: { message: 'deploy prod' } });
    expect(r).toEqual({ content: [{ type: 'text', text: 'tollgate: denied: tool "echo" on server "evil" needs review by roles.agent.mcp.rules[0]; not approved: denied by bob' }], isError: true });
    expect(await count(w)).toBe(before + 1);
    await w.close();
  }, 30_000);

  it('the client cancelling withdraws the review', async () => {
    const approver = new ScriptedApprover(() => null);
    const w = await evil(approver);
    const before = await count(w);
    const ac = new AbortController();
    const call = w.client.callTool({ name: 'echo', arguments: { message: 'deploy prod' } }, undefined, { signal: ac.signal });
    await new Promise((r) => setTimeout(r, 200));
    ac.abort('agent gave up');
    await expect(call).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 100));
    expect(approver.aborted).toBe(1);
    expect(await count(w)).toBe(before + 1);
    const line = (await w.records()).find((l) => l.mcp?.tool === 'echo' && l.approval)!;
    expect(line).toMatchObject({ decision: 'deny', approval: { approved: false } });
    await w.close();
  }, 30_000);
});

describe('a prompt-injected agent', () => {
  let w: Wrapped;
  beforeAll(async () => (w = await evil()), 30_000);
  afterAll(async () => w?.close());

  it('cannot reach tools outside its rules by name tricks', async () => {
    for (const name of ['ECHO', 'echo ', 'echo\u0000', '../echo', 'echo/..', '*']) {
      const r = await w.client.callTool({ name, arguments: { message: 'x' } });
      expect(r.isError, name).toBe(true);
      expect(textOf(r), name).toMatch(/^tollgate: denied: no rule of role agent allows tool /);
    }
  });

  it('cannot smuggle a review-only argument past the condition with a non-string', async () => {
    // An array is not a string: the review condition does not match and the allow rule applies,
    // which is why conditions should narrow allows, not carve exceptions out of them.
    const r = await w.client.callTool({ name: 'echo', arguments: { message: ['deploy prod'] } });
    expect(textOf(r)).toBe('Echo: deploy prod');
  });
});
