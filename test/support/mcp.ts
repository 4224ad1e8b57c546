// Runs the MCP proxy in-process between the SDK's Client (over a linked in-memory pair) and a real
// server started as a child process over stdio, with a temporary audit log. The client is what an
// agent would use; the server is a published package or test/fixtures/mcp/evil-server.mjs.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { NoChannelApprover } from '../../src/approval/none.js';
import type { Approver } from '../../src/approval/types.js';
import { AuditLog } from '../../src/audit/log.js';
import type { AuditLine } from '../../src/audit/types.js';
import { verifyAuditFile } from '../../src/audit/verify.js';
import { mcpRoleOf } from '../../src/mcp/policy.js';
import { McpProxy } from '../../src/mcp/proxy.js';
import { loadPolicy, parsePolicy } from '../../src/policy/load.js';
import { createEngine } from '../../src/policy/sql-analyzer.js';

export const BIN = {
  everything: ['node', ['node_modules/@modelcontextprotocol/server-everything/dist/index.js']],
  filesystem: ['node', ['node_modules/@modelcontextprotocol/server-filesystem/dist/index.js']],
  postgres: ['node', ['node_modules/@modelcontextprotocol/server-postgres/dist/index.js']],
  evil: ['node', ['test/fixtures/mcp/evil-server.mjs']],
} as const;

export interface Wrapped {
  client: Client;
  proxy: McpProxy;
  auditPath: string;
  records(): Promise<AuditLine[]>;
  close(): Promise<void>;
}

export interface WrapOptions {
  /** Policy file path, or YAML text when it contains a newline. */
  policy?: string;
  role?: string;
  server: string;
  command: string;
  args: readonly string[];
  approver?: Approver;
  progressIntervalMs?: number;
  secrets?: string[];
  env?: Record<string, string>;
}

export async function wrap(o: WrapOptions): Promise<Wrapped> {
  const policySource = o.policy ?? 'test/fixtures/policies/mcp.yml';
  const policy = policySource.includes('\n') ? parsePolicy(policySource, 'inline.yml') : loadPolicy(policySource);
  const role = o.role ?? 'agent';
  const mcp = mcpRoleOf(policy, role);
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-mcp-'));
  const auditPath = join(dir, 'audit.jsonl');
  const audit = await AuditLog.open(auditPath, { session: 'test' });
  const engine = mcp.rules.some((r) => r.sqlArgument) ? await createEngine(policy, role) : null;
  const proxy = new McpProxy({
    mcp, engine, server: o.server, audit,
    approver: o.approver ?? new NoChannelApprover('no approval channel in this test'),
    approvalTimeoutMs: 60_000,
    session: { id: randomUUID(), identity: { test: 'mcp' } },
    secrets: o.secrets ?? [],
    maskKey: randomBytes(32),
    progressIntervalMs: o.progressIntervalMs ?? 100,
    log: () => {},
  });
  const [down, agentSide] = InMemoryTransport.createLinkedPair();
  const upstream = new StdioClientTransport({ command: o.command, args: [...o.args], env: { PATH: process.env.PATH ?? '', ...(o.env ?? {}) }, stderr: 'ignore' });
  await proxy.start(upstream, down);
  const client = new Client({ name: 'agent', version: '1' });
  await client.connect(agentSide);
  return {
    client,
    proxy,
    auditPath,
    records: async () => {
      await audit.flush();
      const text = readFileSync(auditPath, 'utf8');
      return text ? text.trimEnd().split('\n').map((l) => JSON.parse(l) as AuditLine) : [];
    },
    close: async () => {
      await client.close().catch(() => {});
      await proxy.close();
      await audit.close();
      const v = await verifyAuditFile(auditPath);
      if (!v.ok) throw new Error(`audit chain broken: line ${v.line}: ${v.reason}`);
    },
  };
}

/** The text of a tool result's first content item. */
export function textOf(r: unknown): string {
  const c = (r as { content?: { type: string; text?: string }[] }).content ?? [];
  return c.map((x) => x.text ?? '').join('\n');
}
