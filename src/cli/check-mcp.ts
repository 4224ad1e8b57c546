// `tollgate check --mcp`: decides MCP requests offline, with the same engine `tollgate mcp` runs.
//
//   --tool NAME [--arguments JSON] [--server S]   one tool call: decision, rule, reason (and the SQL's)
//   --listing F.json [--server S]                 a tools/list result (or its `tools` array): for each
//                                                  tool its decision and the hash to pin it with
// Exit 0 allowed, 1 denied, 3 review, 2 bad input (as `check`).
import { readFileSync } from 'node:fs';
import { decideToolCall, type CallVerdict } from '../mcp/call.js';
import { decideMcp, listable } from '../mcp/decide.js';
import { PinBook, toolHash, type ToolDefinition } from '../mcp/pins.js';
import { mcpRoleOf, serverPolicy } from '../mcp/policy.js';
import type { Policy } from '../policy/compile.js';
import { createEngine } from '../policy/sql-analyzer.js';
import { UsageError, type CliIO } from './args.js';

export class McpInputError extends Error {}

export interface McpCheckFlags {
  tool?: string;
  arguments?: string;
  server?: string;
  listing?: string;
  json?: boolean;
}

const DEFAULT_SERVER = 'default';

function parseArguments(text: string | undefined): Record<string, unknown> {
  if (text === undefined) return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new McpInputError(`--arguments: not valid JSON: ${(err as Error).message}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new McpInputError('--arguments: expected a JSON object');
  return v as Record<string, unknown>;
}

function readListing(file: string): ToolDefinition[] {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new McpInputError(`--listing ${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  const tools = Array.isArray(v) ? v : (v as { tools?: unknown } | null)?.tools;
  if (!Array.isArray(tools) || !tools.every((t) => t && typeof t === 'object' && typeof (t as ToolDefinition).name === 'string')) {
    throw new McpInputError(`--listing ${file}: expected a tools/list result ({"tools": [...]}) or an array of tools, each with a name`);
  }
  return tools as ToolDefinition[];
}

const code = (a: string) => (a === 'deny' ? 1 : a === 'review' ? 3 : 0);

function verdictJson(v: CallVerdict, extra: Record<string, unknown> = {}) {
  return {
    ...extra,
    decision: v.action,
    rule: v.rule,
    reason: v.reason,
    ...(v.sql
      ? {
          sql: v.sql.decision.statements.map((s) => ({ sql: s.sql, kind: s.kind, decision: s.decision, rule: s.rule, reason: s.reason })),
          masked: [...v.sql.masked].map(([name, strategy]) => ({ name, strategy })),
        }
      : {}),
  };
}

export async function checkMcp(policy: Policy, role: string, flags: McpCheckFlags, io: CliIO): Promise<number> {
  const mcp = mcpRoleOf(policy, role);
  const server = flags.server ?? (mcp.servers?.size === 1 ? [...mcp.servers.keys()][0]! : DEFAULT_SERVER);
  const sp = serverPolicy(mcp, server);
  if (!sp) throw new McpInputError(`server ${JSON.stringify(server)} is not declared in roles.${role}.mcp.servers (declared: ${[...mcp.servers!.keys()].join(', ')})`);
  const needsSql = mcp.rules.some((r) => r.sqlArgument !== null);
  const engine = needsSql ? await createEngine(policy, role) : null;

  if ((flags.tool === undefined) === (flags.listing === undefined)) throw new UsageError('with --mcp give exactly one of --tool or --listing');
  if (flags.tool !== undefined) {
    const v = decideToolCall(mcp, engine, { server, subject: 'tools', name: flags.tool, arguments: parseArguments(flags.arguments) });
    if (flags.json) io.out(JSON.stringify(verdictJson(v, { server, tool: flags.tool })));
    else {
      io.out(`${v.action.padEnd(6)}  tool ${flags.tool} on ${server}  — ${v.reason}`);
      if (v.sql && v.sql.masked.size > 0) io.out(`        masked in the result: ${[...v.sql.masked].map(([n, s]) => `${n} (${s})`).join(', ')}`);
    }
    return code(v.action);
  }
  if (flags.arguments !== undefined) throw new UsageError('--arguments goes with --tool, not --listing');
  const pins = new PinBook(sp);
  let worst = 0;
  const rows: unknown[] = [];
  for (const tool of readListing(flags.listing!)) {
    const pin = pins.check(tool);
    // Listed as `tollgate mcp` lists it: shown when some call could be allowed or reviewed (argument
    // conditions need a call to judge); the rule shown is the one a call without arguments meets.
    const v = decideMcp(mcp, { server, subject: 'tools', name: tool.name, arguments: {} });
    const shown = listable(mcp, { server, subject: 'tools', name: tool.name });
    const action = !pin.ok || !shown ? 'deny' : v.action === 'deny' ? 'allow' : v.action;
    const reason = !pin.ok ? pin.reason : v.action === 'deny' && shown ? `listed: a rule with argument conditions may allow some calls (${v.reason})` : v.reason;
    worst = Math.max(worst, action === 'deny' ? 2 : action === 'review' ? 1 : 0);
    if (flags.json) rows.push({ tool: tool.name, decision: action, rule: pin.ok ? v.rule : null, reason, hash: toolHash(tool) });
    else io.out(`${action.padEnd(6)}  ${tool.name}  ${pin.hash}  — ${reason}`);
  }
  if (flags.json) io.out(JSON.stringify({ server, tools: rows }));
  return [0, 3, 1][worst]!;
}
