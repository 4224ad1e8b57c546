// `tollgate mcp`: wraps one MCP server (DESIGN.md, "MCP").
//
//   tollgate mcp --policy F --role R [--audit F.jsonl] [--server NAME] [--listen 127.0.0.1:PORT]
//                [--approvals tty | --session-config F.json] (-- COMMAND [ARGS…] | --url URL)
//
// The server is a child process over stdio (`-- COMMAND`) or reached over streamable HTTP (`--url`).
// The client is served on this process's stdin/stdout, or with --listen over streamable HTTP on
// loopback at /mcp, authenticated by TOLLGATE_MCP_SECRET as a Bearer token (generated and printed on
// stderr when unset). Diagnostics go to stderr; stdout belongs to the protocol. The process exits when
// either side closes (1 when the server went away first), and on SIGTERM/SIGINT; the audit log is
// flushed first.
import { randomBytes, randomUUID } from 'node:crypto';
import { openSync, readFileSync } from 'node:fs';
import { ReadStream, WriteStream } from 'node:tty';
import { userInfo } from 'node:os';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { createApprover } from '../approval/index.js';
import { NoChannelApprover } from '../approval/none.js';
import { TerminalApprover } from '../approval/terminal.js';
import type { Approver } from '../approval/types.js';
import { AuditLog } from '../audit/log.js';
import { listenHttp } from '../mcp/http.js';
import { mcpRoleOf, serverPolicy } from '../mcp/policy.js';
import { McpProxy } from '../mcp/proxy.js';
import type { ApprovalConfig } from '../approval/config.js';
import { getRole } from '../policy/roles.js';
import { loadPolicy } from '../policy/load.js';
import { createEngine } from '../policy/sql-analyzer.js';
import { parseFlags, required, UsageError } from './args.js';
import { parseListen } from './serve.js';

export const USAGE =
  'usage: tollgate mcp --policy F --role R [--audit F.jsonl] [--server NAME] [--listen 127.0.0.1:PORT]\n' +
  '                    [--approvals tty | --session-config F.json] (-- COMMAND [ARGS…] | --url URL)';

/** Largest JSON-RPC line read from either side over stdio. */
export const MAX_STDIO_MESSAGE = 8 * 1024 * 1024;

const log = (line: string) => process.stderr.write(`${line}\n`);

/** The child's environment: ours, less what tollgate keeps to itself. */
function childEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('TOLLGATE_')) env[k] = v;
  return env;
}

/**
 * What the action hands each wrapper (a file in the session's private directory, never argv): the
 * session id and the job's verified claims for the audit log, and the approval channel.
 */
interface SessionConfig {
  sessionId?: string;
  claims?: Record<string, unknown>;
  approval?: ApprovalConfig;
  approvalTimeoutMs?: number;
}

function readSessionConfig(file: string | undefined): SessionConfig {
  if (file === undefined) return {};
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`--session-config ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new UsageError(`--session-config ${file}: expected a JSON object`);
  return v as SessionConfig;
}

function approverFrom(flags: { approvals?: string }, config: SessionConfig, approvers: string[] | null): Approver {
  if (flags.approvals !== undefined && config.approval !== undefined) throw new UsageError('give only one of --approvals or an approval channel in --session-config');
  if (flags.approvals !== undefined) {
    if (flags.approvals !== 'tty') throw new UsageError(`--approvals takes "tty", got ${JSON.stringify(flags.approvals)}`);
    // stdin and stdout carry the protocol: questions go to the controlling terminal.
    const fd = openSync('/dev/tty', 'r+');
    return new TerminalApprover({ input: new ReadStream(fd), output: new WriteStream(fd) });
  }
  if (config.approval !== undefined) return createApprover(config.approval, { approvers: approvers ?? undefined, log });
  return new NoChannelApprover('no approval channel: start tollgate mcp with --approvals tty or from the action');
}

export async function run(argv: string[]): Promise<number> {
  const dash = argv.indexOf('--');
  const own = dash < 0 ? argv : argv.slice(0, dash);
  const command = dash < 0 ? [] : argv.slice(dash + 1);
  const flags = parseFlags(own, {
    string: ['policy', 'role', 'audit', 'server', 'listen', 'url', 'approvals', 'session-config'],
    boolean: ['help'],
  });
  if (flags.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if ((command.length > 0) === (flags.url !== undefined)) throw new UsageError(`give the server as -- COMMAND [ARGS…] or as --url URL (${USAGE})`);
  const policy = loadPolicy(required(flags.policy, 'policy'));
  const roleName = getRole(policy, required(flags.role, 'role')).name;
  const mcp = mcpRoleOf(policy, roleName);
  const server = flags.server ?? (mcp.servers?.size === 1 ? [...mcp.servers.keys()][0]! : 'default');
  if (!serverPolicy(mcp, server)) {
    throw new UsageError(`server ${JSON.stringify(server)} is not declared in roles.${roleName}.mcp.servers (declared: ${[...mcp.servers!.keys()].join(', ')}); name it with --server`);
  }
  let upstreamUrl: URL | null = null;
  if (flags.url !== undefined) {
    try {
      upstreamUrl = new URL(flags.url);
    } catch {
      throw new UsageError(`--url ${JSON.stringify(flags.url)}: not a URL`);
    }
    if (!/^https?:$/.test(upstreamUrl.protocol)) throw new UsageError(`--url must be http(s), got ${upstreamUrl.protocol}`);
  }
  const listen = flags.listen !== undefined ? parseListen(flags.listen) : null;

  const sessionConfig = readSessionConfig(flags['session-config']);
  const session = {
    id: sessionConfig.sessionId ?? randomUUID(),
    identity: sessionConfig.claims ?? ({ user: userInfo().username, command: 'tollgate mcp', server } as Record<string, unknown>),
  };
  const maskKey = randomBytes(32);
  let secret = process.env.TOLLGATE_MCP_SECRET ?? '';
  if (listen && !secret) {
    secret = randomBytes(24).toString('base64url');
    log(`tollgate: no TOLLGATE_MCP_SECRET set; generated secret for the HTTP listener: ${secret}`);
  }
  const approvalToken = (sessionConfig.approval as { token?: unknown } | undefined)?.token;
  const secrets = [secret, maskKey.toString('base64url'), maskKey.toString('hex'), typeof approvalToken === 'string' ? approvalToken : ''].filter((s) => s.length > 0);
  const audit = flags.audit ? await AuditLog.open(flags.audit, { session: session.id, secrets, onError: (e) => log(`tollgate mcp: ${e.message}`) }) : null;
  const engine = mcp.rules.some((r) => r.sqlArgument !== null) ? await createEngine(policy, roleName) : null;
  const approver = approverFrom(flags, sessionConfig, policy.roles.get(roleName)!.approvers as string[] | null);

  const upstream: Transport = upstreamUrl
    ? new StreamableHTTPClientTransport(upstreamUrl)
    : new StdioClientTransport({ command: command[0]!, args: command.slice(1), env: childEnv(), stderr: 'inherit', maxBufferSize: MAX_STDIO_MESSAGE } as ConstructorParameters<typeof StdioClientTransport>[0]);

  const proxy = new McpProxy({
    mcp, engine, server, audit, approver, approvalTimeoutMs: sessionConfig.approvalTimeoutMs ?? policy.approvalTimeoutMs, session, secrets, maskKey, log,
  });
  const http = listen ? await listenHttp(listen.host, listen.port, secret, (why) => log(`tollgate mcp: refused ${why}`)) : null;
  const downstream: Transport = http ? http.transport : new StdioServerTransport(process.stdin, process.stdout, { maxBufferSize: MAX_STDIO_MESSAGE } as never);

  const stop = new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  try {
    await proxy.start(upstream, downstream);
  } catch (err) {
    log(`tollgate mcp: cannot start the server ${upstreamUrl ? upstreamUrl.href : JSON.stringify(command.join(' '))}: ${(err as Error).message}`);
    await proxy.close();
    await http?.close();
    await audit?.close();
    return 1;
  }
  if (http) process.stdout.write(`tollgate: mcp ${server} listening on ${http.url}\n`);
  const why = await Promise.race([proxy.done, stop]);
  await proxy.close();
  await http?.close();
  await approver.close?.();
  await audit?.close();
  const code = why === 'the MCP server closed the connection' ? 1 : 0;
  if (code) log(`tollgate mcp: ${why}`);
  // Whatever handle is left (a TTY, a child that ignores its closed stdin) must not keep us alive.
  setTimeout(() => process.exit(code), 200).unref();
  return code;
}
