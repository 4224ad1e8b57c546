// tollgate's MCP proxy between the SDK's client and real servers: listings filtered, denied calls
// answered as tool errors or -32001, results masked and bounded, pins enforced, every message recorded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmptyResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { BIN, textOf, wrap, type Wrapped } from '../support/mcp.js';

describe('server-everything through tollgate', () => {
  let w: Wrapped;
  beforeAll(async () => {
    w = await wrap({ server: 'everything', command: BIN.everything[0], args: BIN.everything[1] });
  }, 30_000);
  afterAll(async () => w?.close());

  it('lists only the tools the role may use', async () => {
    const r = await w.client.listTools();
    expect(r.tools.map((t) => t.name).sort()).toEqual(['echo', 'get-sum', 'trigger-long-running-operation']);
  });

  it('an allowed call goes through; a denied one is a tool error starting "tollgate: denied"', async () => {
    expect(textOf(await w.client.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } }))).toBe('The sum of 2 and 3 is 5.');
    const denied = await w.client.callTool({ name: 'get-env', arguments: {} });
    expect(denied).toEqual({ content: [{ type: 'text', text: 'tollgate: denied: tool "get-env" on server "everything" denied by roles.agent.mcp.rules[4]' }], isError: true });
  });

  it('a tool the server does not have is denied before it reaches the server', async () => {
    const r = await w.client.callTool({ name: 'echo2', arguments: {} });
    expect(r).toEqual({ content: [{ type: 'text', text: 'tollgate: denied: tool "echo2" on server "everything" denied by roles.agent.mcp.rules[4]' }], isError: true });
  });

  it('prompts and resources are filtered and decided', async () => {
    expect((await w.client.listPrompts()).prompts.map((p) => p.name)).toEqual(['simple-prompt']);
    expect((await w.client.getPrompt({ name: 'simple-prompt' })).messages.length).toBeGreaterThan(0);
    await expect(w.client.getPrompt({ name: 'args-prompt', arguments: { city: 'x' } })).rejects.toMatchObject({
      code: -32001, message: 'MCP error -32001: tollgate: denied: no rule of role agent allows prompt "args-prompt" on server "everything"',
    });
    const resources = (await w.client.listResources()).resources.map((r) => r.uri);
    expect(resources.length).toBeGreaterThan(0);
    expect(resources.every((u) => u.startsWith('demo://resource/static/document/'))).toBe(true);
    const read = await w.client.readResource({ uri: resources[0]! });
    expect(read.contents.length).toBe(1);
    await expect(w.client.readResource({ uri: 'demo://resource/dynamic/text/1' })).rejects.toMatchObject({ code: -32001 });
  });

  it('a method tollgate does not pass on gets -32001', async () => {
    await expect(w.client.request({ method: 'tasks/list', params: {} } as never, EmptyResultSchema)).rejects.toMatchObject({
      code: -32001, message: 'MCP error -32001: tollgate: denied: method tasks/list is not passed on by tollgate',
    });
  });

  it('every request is in the audit log with argument shapes, never values', async () => {
    await w.client.callTool({ name: 'echo', arguments: { message: 'planted-value-7731' } });
    const lines = await w.records();
    const echo = lines.find((l) => l.mcp?.tool === 'echo')!;
    expect(echo).toMatchObject({ type: 'mcp', decision: 'allow', rule: 'roles.agent.mcp.rules[0]', mcp: { method: 'tools/call', server: 'everything', direction: 'request', arguments: { message: 'string' }, outcome: 'ok' } });
    expect(echo.mcp!.resultBytes).toBeGreaterThan(0);
    expect(typeof echo.durationMs).toBe('number');
    expect(lines.find((l) => l.mcp?.tool === 'get-env')).toMatchObject({ decision: 'deny', mcp: { outcome: 'refused' } });
    expect(lines.find((l) => l.mcp?.method === 'tasks/list')).toMatchObject({ decision: 'deny' });
    expect(JSON.stringify(lines)).not.toContain('planted-value-7731');
  });
});
