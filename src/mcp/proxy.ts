// The MCP proxy: the official SDK's Client towards the real server and its Server towards the agent,
// with every request decided in between. What the agent can reach is what the role's `mcp` rules
// allow: listings are filtered, tool calls decided (SQL arguments by the postgres engine), results
// masked and bounded, `review` calls held for a reviewer, and everything recorded.
//
// Denials: a tools/call gets a tool result with isError and text `tollgate: denied: …` (so the agent's
// model reads why); any other denied request a JSON-RPC error -32001. Requests from the server to the
// client (sampling, elicitation, roots) are refused: a server must not make the agent's model or user
// act for it through the gateway.
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { AnySchema, SchemaOutput } from '@modelcontextprotocol/sdk/server/zod-compat.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  CallToolRequestSchema,
  CallToolResultSchema,
  CompleteRequestSchema,
  CompleteResultSchema,
  EmptyResultSchema,
  GetPromptRequestSchema,
  GetPromptResultSchema,
  ListPromptsRequestSchema,
  ListPromptsResultSchema,
  ListResourcesRequestSchema,
  ListResourcesResultSchema,
  ListResourceTemplatesRequestSchema,
  ListResourceTemplatesResultSchema,
  ListToolsRequestSchema,
  ListToolsResultSchema,
  LoggingMessageNotificationSchema,
  ErrorCode,
  McpError,
  PromptListChangedNotificationSchema,
  ReadResourceRequestSchema,
  ReadResourceResultSchema,
  ResourceListChangedNotificationSchema,
  ResourceUpdatedNotificationSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  ToolListChangedNotificationSchema,
  UnsubscribeRequestSchema,
  type CallToolResult,
  type ServerCapabilities,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import type { Approver } from '../approval/types.js';
import type { AuditLog } from '../audit/log.js';
import type { AuditEntry, McpAuditFields } from '../audit/types.js';
import type { PolicyEngine } from '../policy/engine.js';
import type { Action } from '../policy/types.js';
import { shapeKey } from '../sql/shape.js';
import { decideToolCall, type CallVerdict } from './call.js';
import { decideMcp, listable } from './decide.js';
import { GuardedTransport } from './guard.js';
import { maskResult, ResultRefused, scrubText, type MaskOptions } from './mask.js';
import { PinBook } from './pins.js';
import type { McpRole, Subject } from './policy.js';
import { holdForReview } from './review.js';
import { argumentShape } from './shape.js';

/** JSON-RPC error code of a request the policy denies (DESIGN.md, "MCP"). */
export const DENIED = -32001;

/**
 * A JSON-RPC error for the client. Not the SDK's McpError: its constructor prefixes the message with
 * `MCP error <code>:`, and the client's SDK adds that prefix again when it reads the error.
 */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}
export const DENIED_PREFIX = 'tollgate: denied';
const MAX_LIST_PAGES = 100;

export interface McpProxyOptions {
  mcp: McpRole;
  /** The role's SQL engine, for `sql_argument` rules (null when no rule marks SQL). */
  engine: PolicyEngine | null;
  server: string;
  audit: AuditLog | null;
  approver: Approver;
  approvalTimeoutMs: number;
  session: { id: string; identity: Record<string, unknown> };
  /** Values never passed to the agent or the log (session secret, mask key, credentials). */
  secrets: readonly string[];
  maskKey: Buffer;
  /** How often a held review sends progress (default 5 s). */
  progressIntervalMs?: number;
  /** Longest a forwarded request may take (default 1 h; progress resets it). */
  requestTimeoutMs?: number;
  /** Diagnostics (stderr). */
  log?: (line: string) => void;
}

type Extra = RequestHandlerExtra<never, never>;

export class McpProxy {
  readonly client: Client;
  server!: Server;
  private tools: Map<string, Tool> | null = null;
  private readonly pins: PinBook;
  private closed = false;
  /** Resolves once either side has closed. */
  readonly done: Promise<string>;
  private finish!: (why: string) => void;

  constructor(private readonly o: McpProxyOptions) {
    const sp = o.mcp.servers === null ? { pin: null, pins: new Map() } : o.mcp.servers.get(o.server);
    if (!sp) throw new TypeError(`server ${JSON.stringify(o.server)} is not declared in roles.${o.mcp.role}.mcp.servers`);
    this.pins = new PinBook(sp);
    this.client = new Client({ name: 'tollgate', version: '0.1.0' }, { capabilities: {} });
    this.done = new Promise((resolve) => (this.finish = resolve));
  }

  /** Connects to the server (initialize), then serves the client on `downstream`. */
  async start(upstream: Transport, downstream: Transport): Promise<void> {
    this.client.onerror = (err) => this.anomaly('server', `${err?.message ?? err}`);
    this.client.onclose = () => this.ended('the MCP server closed the connection');
    this.client.fallbackNotificationHandler = async (n) => this.record({ method: n.method, direction: 'server' }, 'deny', null, 'a notification tollgate does not pass on');
    this.client.fallbackRequestHandler = async (req) => {
      const reason = `${req.method} from the server is not passed on to the client`;
      this.record({ method: req.method, direction: 'server' }, 'deny', null, reason);
      throw new RpcError(DENIED, `${DENIED_PREFIX}: ${reason}`);
    };
    await this.client.connect(upstream);
    const caps = this.client.getServerCapabilities() ?? {};
    const info = this.client.getServerVersion() ?? { name: this.o.server, version: '0' };
    const instructions = this.client.getInstructions();
    this.server = new Server(
      { name: info.name, version: info.version },
      { capabilities: mirrorCapabilities(caps), ...(instructions ? { instructions: this.scrub(instructions) } : {}) },
    );
    this.register(caps);
    this.server.onerror = (err) => this.anomaly('client', `${err?.message ?? err}`);
    this.server.onclose = () => this.ended('the client closed the connection');
    const guarded = new GuardedTransport(downstream, {
      refused: ({ method, reason }) => this.record({ method, direction: 'request' }, 'deny', null, reason, { outcome: 'refused' }),
    });
    await this.server.connect(guarded);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([this.server?.close(), this.client.close()]);
  }

  private ended(why: string): void {
    if (this.closed) return;
    this.closed = true;
    this.record({ method: 'close', direction: 'server' }, 'allow', null, why);
    // Let the errors of requests still in flight reach the client before its side closes.
    setTimeout(() => void Promise.allSettled([this.server?.close(), this.client.close()]).then(() => this.finish(why)), 50);
  }

  // ----- handlers -----

  private register(caps: ServerCapabilities): void {
    const s = this.server;
    if (caps.tools) {
      s.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: await this.listTools() }));
      s.setRequestHandler(CallToolRequestSchema, (req, extra) => this.callTool(req.params, extra as unknown as Extra));
      this.client.setNotificationHandler(ToolListChangedNotificationSchema, async () => {
        this.tools = null;
        this.record({ method: 'notifications/tools/list_changed', direction: 'server' }, 'allow', null, 'passed on; the new listing goes through the same filter');
        await s.sendToolListChanged().catch(() => {});
      });
    }
    if (caps.resources) {
      s.setRequestHandler(ListResourcesRequestSchema, async (req, extra) => {
        const r = await this.forward('resources/list', req.params, ListResourcesResultSchema, extra as unknown as Extra);
        return { ...r, resources: r.resources.filter((x) => this.visible('resources', x.uri)) };
      });
      s.setRequestHandler(ListResourceTemplatesRequestSchema, async (req, extra) => {
        const r = await this.forward('resources/templates/list', req.params, ListResourceTemplatesResultSchema, extra as unknown as Extra);
        return { ...r, resourceTemplates: r.resourceTemplates.filter((x) => this.visible('resources', x.uriTemplate)) };
      });
      s.setRequestHandler(ReadResourceRequestSchema, (req, extra) =>
        this.decided('resources/read', 'resources', req.params.uri, req.params, extra as unknown as Extra, ReadResourceResultSchema),
      );
      if (caps.resources.subscribe) {
        s.setRequestHandler(SubscribeRequestSchema, (req, extra) => this.decided('resources/subscribe', 'resources', req.params.uri, req.params, extra as unknown as Extra, EmptyResultSchema));
        s.setRequestHandler(UnsubscribeRequestSchema, (req, extra) => this.decided('resources/unsubscribe', 'resources', req.params.uri, req.params, extra as unknown as Extra, EmptyResultSchema));
      }
      this.client.setNotificationHandler(ResourceListChangedNotificationSchema, async () => {
        this.record({ method: 'notifications/resources/list_changed', direction: 'server' }, 'allow', null, 'passed on');
        await s.sendResourceListChanged().catch(() => {});
      });
      this.client.setNotificationHandler(ResourceUpdatedNotificationSchema, async (n) => {
        const ok = decideMcp(this.o.mcp, { server: this.o.server, subject: 'resources', name: n.params.uri }).action !== 'deny';
        this.record({ method: n.method, direction: 'server', uri: n.params.uri }, ok ? 'allow' : 'deny', null, ok ? 'passed on' : 'the resource is not one the role may use');
        if (ok) await s.sendResourceUpdated({ uri: n.params.uri }).catch(() => {});
      });
    }
    if (caps.prompts) {
      s.setRequestHandler(ListPromptsRequestSchema, async (req, extra) => {
        const r = await this.forward('prompts/list', req.params, ListPromptsResultSchema, extra as unknown as Extra);
        return { ...r, prompts: r.prompts.filter((x) => this.visible('prompts', x.name)) };
      });
      s.setRequestHandler(GetPromptRequestSchema, (req, extra) =>
        this.decided('prompts/get', 'prompts', req.params.name, req.params, extra as unknown as Extra, GetPromptResultSchema),
      );
      this.client.setNotificationHandler(PromptListChangedNotificationSchema, async () => {
        this.record({ method: 'notifications/prompts/list_changed', direction: 'server' }, 'allow', null, 'passed on');
        await s.sendPromptListChanged().catch(() => {});
      });
    }
    if (caps.completions) {
      s.setRequestHandler(CompleteRequestSchema, (req, extra) => {
        const ref = req.params.ref as { type: string; name?: string; uri?: string };
        const [subject, name]: [Subject, string] = ref.type === 'ref/prompt' ? ['prompts', ref.name ?? ''] : ['resources', ref.uri ?? ''];
        return this.decided('completion/complete', subject, name, req.params, extra as unknown as Extra, CompleteResultSchema);
      });
    }
    if (caps.logging) {
      s.setRequestHandler(SetLevelRequestSchema, async (req, extra) => this.forward('logging/setLevel', req.params, EmptyResultSchema, extra as unknown as Extra, true));
      this.client.setNotificationHandler(LoggingMessageNotificationSchema, async (n) => {
        // Log data can quote anything the server holds: secrets are scrubbed like results.
        const data = JSON.parse(this.scrub(JSON.stringify(n.params.data ?? null))) as unknown;
        await s.sendLoggingMessage({ ...n.params, data }).catch(() => {});
      });
    }
    s.fallbackRequestHandler = async (req) => {
      const reason = `method ${req.method} is not passed on by tollgate`;
      this.record({ method: req.method, direction: 'request' }, 'deny', null, reason);
      throw new RpcError(DENIED, `${DENIED_PREFIX}: ${reason}`);
    };
    s.fallbackNotificationHandler = async (n) => {
      this.record({ method: n.method, direction: 'notification' }, 'deny', null, 'a notification tollgate does not pass on');
    };
  }

  private visible(subject: Subject, name: string): boolean {
    return listable(this.o.mcp, { server: this.o.server, subject, name });
  }

  /** The server's whole tool listing (every page), remembered until it says the list changed. */
  private async serverTools(): Promise<Map<string, Tool>> {
    if (this.tools) return this.tools;
    const tools = new Map<string, Tool>();
    let cursor: string | undefined;
    for (let page = 0; page < MAX_LIST_PAGES; page++) {
      const r = await this.client.request({ method: 'tools/list', params: cursor ? { cursor } : {} }, ListToolsResultSchema);
      for (const t of r.tools) if (!tools.has(t.name)) tools.set(t.name, t);
      cursor = r.nextCursor;
      if (!cursor) break;
    }
    this.tools = tools;
    return tools;
  }

  private async listTools(): Promise<Tool[]> {
    const t0 = performance.now();
    this.tools = null; // a listing always reads the server's current definitions
    const all = await this.serverTools();
    const shown: Tool[] = [];
    const hidden: string[] = [];
    for (const tool of all.values()) {
      const pin = this.pins.check(tool);
      if (pin.ok && this.visible('tools', tool.name)) shown.push(tool);
      else hidden.push(pin.ok ? tool.name : `${tool.name} (${pin.reason})`);
    }
    this.record({ method: 'tools/list', direction: 'request', resultBytes: shown.length }, 'allow', null,
      hidden.length ? `${shown.length} of ${all.size} tools listed; hidden: ${hidden.join('; ')}` : `${shown.length} tools listed`, { durationMs: performance.now() - t0 });
    return shown;
  }

  private async callTool(params: { name: string; arguments?: Record<string, unknown>; _meta?: Record<string, unknown> }, extra: Extra): Promise<CallToolResult> {
    const t0 = performance.now();
    const name = params.name;
    const args = params.arguments ?? {};
    const fields: McpAuditFields = { method: 'tools/call', server: this.o.server, direction: 'request', tool: name, arguments: argumentShape(args) };
    let verdict: CallVerdict = decideToolCall(this.o.mcp, this.o.engine, { server: this.o.server, subject: 'tools', name, arguments: args });
    if (verdict.action !== 'deny') {
      const def = (await this.serverTools().catch(() => null))?.get(name) ?? (this.tools = null, (await this.serverTools().catch(() => null))?.get(name));
      const pin = def ? this.pins.check(def) : null;
      if (!def) verdict = { ...verdict, action: 'deny', rule: null, reason: `tool ${JSON.stringify(name)} is not in the server's listing` };
      else if (pin && !pin.ok) verdict = { ...verdict, action: 'deny', rule: null, reason: pin.reason };
    }
    const sqlFields = this.sqlAudit(verdict, args);
    const denied = (reason: string, extraFields: Partial<AuditEntry> = {}): CallToolResult => {
      this.audit({ ...sqlFields, ...extraFields, decision: 'deny', rule: verdict.rule, reason, durationMs: performance.now() - t0, mcp: { ...fields, outcome: 'refused' } });
      return { content: [{ type: 'text', text: `${DENIED_PREFIX}: ${reason}` }], isError: true };
    };
    if (verdict.action === 'deny') return denied(verdict.reason);

    let approval: AuditEntry['approval'];
    if (verdict.action === 'review') {
      const outcome = await this.review(verdict, name, args, extra, params._meta?.progressToken);
      approval = { id: outcome.id, approved: outcome.approved, via: outcome.via, ...(outcome.approver ? { approver: outcome.approver } : {}), ...(outcome.at ? { at: outcome.at.toISOString() } : {}), ...(outcome.reason ? { reason: outcome.reason } : {}) };
      if (!outcome.approved) return denied(`${verdict.reason}; not approved: ${outcome.reason ?? outcome.via}`, { approval });
    }

    const progressToken = params._meta?.progressToken;
    let raw: CallToolResult;
    try {
      raw = (await this.client.request(
        { method: 'tools/call', params: { name, arguments: args } },
        CallToolResultSchema,
        this.requestOptions(extra, progressToken),
      )) as CallToolResult;
    } catch (err) {
      const cancelled = extra.signal.aborted;
      this.audit({ ...sqlFields, decision: verdict.action, rule: verdict.rule, reason: verdict.reason, approval, durationMs: performance.now() - t0, mcp: { ...fields, outcome: cancelled ? 'cancelled' : 'error' } });
      throw this.upstreamError(err);
    }
    const o = this.maskOptions(verdict);
    try {
      const { result, report } = maskResult(raw, o);
      this.audit({
        ...sqlFields, decision: verdict.action, rule: verdict.rule, reason: verdict.reason, approval, durationMs: performance.now() - t0,
        mcp: { ...fields, resultBytes: report.resultBytes, maskedFields: report.maskedFields, secrets: report.secrets, outcome: result.isError ? 'tool-error' : 'ok' },
      });
      return result;
    } catch (err) {
      if (!(err instanceof ResultRefused)) throw err;
      const reason = `the result was refused: ${err.message}`;
      this.audit({ ...sqlFields, decision: 'deny', rule: verdict.rule, reason, approval, durationMs: performance.now() - t0, mcp: { ...fields, resultBytes: Buffer.byteLength(JSON.stringify(raw)), outcome: 'refused' } });
      return { content: [{ type: 'text', text: `tollgate: refused: ${err.message}` }], isError: true };
    }
  }

  /** resources/read, prompts/get, subscribe, completion: decided by rule, forwarded, masked. */
  private async decided<S extends AnySchema>(method: string, subject: Subject, name: string, params: unknown, extra: Extra, schema: S): Promise<SchemaOutput<S>> {
    const t0 = performance.now();
    const d = decideMcp(this.o.mcp, { server: this.o.server, subject, name, arguments: (params as { arguments?: unknown })?.arguments });
    const fields: McpAuditFields = {
      method, server: this.o.server, direction: 'request', ...(subject === 'resources' ? { uri: name } : { prompt: name }),
      ...((params as { arguments?: unknown })?.arguments !== undefined ? { arguments: argumentShape((params as { arguments?: unknown }).arguments) } : {}),
    };
    // review has no place outside tool calls: a reviewer is asked about actions, not reads.
    const action: Action = d.action === 'review' ? 'deny' : d.action;
    const reason = d.action === 'review' ? `${d.reason} (review applies to tool calls only)` : d.reason;
    if (action === 'deny') {
      this.audit({ decision: 'deny', rule: d.rule, reason, durationMs: performance.now() - t0, mcp: { ...fields, outcome: 'refused' } });
      throw new RpcError(DENIED, `${DENIED_PREFIX}: ${reason}`);
    }
    let raw: unknown;
    try {
      raw = await this.client.request({ method, params: stripProgress(params) } as never, schema, this.requestOptions(extra, undefined));
    } catch (err) {
      this.audit({ decision: 'allow', rule: d.rule, reason, durationMs: performance.now() - t0, mcp: { ...fields, outcome: extra.signal.aborted ? 'cancelled' : 'error' } });
      throw this.upstreamError(err);
    }
    try {
      const { result, report } = maskResult(raw, this.maskOptions(null));
      this.audit({ decision: 'allow', rule: d.rule, reason, durationMs: performance.now() - t0, mcp: { ...fields, resultBytes: report.resultBytes, maskedFields: report.maskedFields, secrets: report.secrets, outcome: 'ok' } });
      return result as SchemaOutput<S>;
    } catch (err) {
      if (!(err instanceof ResultRefused)) throw err;
      this.audit({ decision: 'deny', rule: d.rule, reason: `the result was refused: ${err.message}`, durationMs: performance.now() - t0, mcp: { ...fields, outcome: 'refused' } });
      throw new RpcError(DENIED, `tollgate: refused: ${err.message}`);
    }
  }

  /** A request passed through unchanged (listings are filtered by the caller). */
  private async forward<S extends AnySchema>(method: string, params: unknown, schema: S, extra: Extra, record = false): Promise<SchemaOutput<S>> {
    const t0 = performance.now();
    try {
      const r = await this.client.request({ method, params: stripProgress(params) } as never, schema, this.requestOptions(extra, undefined));
      if (record) this.audit({ decision: 'allow', rule: null, reason: 'passed on', durationMs: performance.now() - t0, mcp: { method, server: this.o.server, direction: 'request', outcome: 'ok' } });
      else this.audit({ decision: 'allow', rule: null, reason: 'listing, filtered by the role', durationMs: performance.now() - t0, mcp: { method, server: this.o.server, direction: 'request', outcome: 'ok' } });
      return r as SchemaOutput<S>;
    } catch (err) {
      this.audit({ decision: 'allow', rule: null, reason: 'passed on', durationMs: performance.now() - t0, mcp: { method, server: this.o.server, direction: 'request', outcome: 'error' } });
      throw this.upstreamError(err);
    }
  }

  private requestOptions(extra: Extra, progressToken: unknown) {
    const relay = progressToken !== undefined && (typeof progressToken === 'string' || typeof progressToken === 'number');
    return {
      signal: extra.signal,
      timeout: this.o.requestTimeoutMs ?? 3_600_000,
      resetTimeoutOnProgress: true,
      ...(relay
        ? {
            onprogress: (p: { progress: number; total?: number; message?: string }) => {
              void extra
                .sendNotification({ method: 'notifications/progress', params: { progressToken, progress: p.progress, ...(p.total !== undefined ? { total: p.total } : {}), ...(p.message !== undefined ? { message: this.scrub(p.message) } : {}) } } as never)
                .catch(() => {});
            },
          }
        : {}),
    };
  }

  private async review(verdict: CallVerdict, tool: string, args: Record<string, unknown>, extra: Extra, token: unknown) {
    const id = randomUUID();
    const sqlArg = verdict.sqlArgument;
    const shownArgs = sqlArg && typeof args[sqlArg] === 'string' ? { ...args, [sqlArg]: shapeKey(args[sqlArg] as string) ?? '[SQL withheld]' } : args;
    let masked: unknown;
    try {
      masked = maskResult(shownArgs, { ...this.maskOptions(null), maxBytes: Infinity }).result;
    } catch {
      masked = argumentShape(args);
    }
    const text = JSON.stringify(masked);
    const statement = `tools/call ${tool} ${text.length > 2000 ? `${text.slice(0, 2000)}…` : text}`;
    const outcome = await holdForReview(
      this.o.approver,
      {
        id,
        sessionId: this.o.session.id,
        statement,
        kind: 'mcp tool call',
        object: `${this.o.server}/${tool}`,
        rule: verdict.rule,
        reason: verdict.reason,
        identity: this.o.session.identity,
        requestedAt: new Date(),
        timeoutMs: this.o.approvalTimeoutMs,
      },
      {
        signal: extra.signal,
        intervalMs: this.o.progressIntervalMs ?? 5000,
        ...(typeof token === 'string' || typeof token === 'number'
          ? { progress: (progress: number, message: string) => extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress, message } } as never) }
          : {}),
      },
    );
    return { ...outcome, id };
  }

  private sqlAudit(verdict: CallVerdict, args: Record<string, unknown>): Partial<AuditEntry> {
    if (!verdict.sql || !verdict.sqlArgument) return {};
    const sql = args[verdict.sqlArgument] as string;
    const statements = verdict.sql.decision.statements;
    return {
      statement: shapeKey(sql) ?? sql,
      accesses: statements.flatMap((s) => s.accesses),
      masked: [...verdict.sql.masked].map(([name, strategy]) => ({ name, strategy, column: statements.flatMap((s) => s.masked).find((m) => m.name === name)?.column ?? '' })),
    };
  }

  private maskOptions(verdict: CallVerdict | null): MaskOptions {
    return {
      fieldMasks: this.o.mcp.masks,
      ...(verdict?.sql ? { sqlMasks: verdict.sql.masked, sqlOutputs: verdict.sql.outputs } : {}),
      secretPatterns: this.o.mcp.secretPatterns,
      secrets: this.o.secrets,
      maskKey: this.o.maskKey,
      maxBytes: this.o.mcp.maxResultBytes,
    };
  }

  private scrub(text: string): string {
    return scrubText(text, { secretPatterns: this.o.mcp.secretPatterns, secrets: this.o.secrets });
  }

  /** An error from the server, passed on with its code and a scrubbed message. */
  private upstreamError(err: unknown): RpcError {
    if (err instanceof McpError && err.code === ErrorCode.ConnectionClosed) {
      return new RpcError(-32603, 'tollgate: the MCP server went away before it answered');
    }
    if (err instanceof McpError && err.code === ErrorCode.RequestTimeout) {
      return new RpcError(-32603, 'tollgate: the MCP server did not answer in time');
    }
    if (err instanceof McpError) return new RpcError(err.code, this.scrub(err.message.replace(/^MCP error -?\d+: /, '')));
    return new RpcError(-32603, `tollgate: the MCP server did not answer: ${this.scrub(String((err as Error)?.message ?? err))}`);
  }

  private anomaly(side: 'server' | 'client', message: string): void {
    this.o.log?.(`tollgate mcp: ${side}: ${this.scrub(message)}`);
    this.record({ method: '', direction: side === 'server' ? 'server' : 'request' }, 'deny', null, `protocol error from the ${side}: ${message}`, { outcome: 'error' });
  }

  private record(fields: Omit<McpAuditFields, 'server'>, decision: Action, rule: string | null, reason: string, more: Partial<AuditEntry> & { outcome?: McpAuditFields['outcome'] } = {}): void {
    const { outcome, ...rest } = more;
    this.audit({ ...rest, decision, rule, reason, mcp: { ...fields, server: this.o.server, ...(outcome ? { outcome } : {}) } });
  }

  private audit(e: Partial<AuditEntry> & Pick<AuditEntry, 'decision'>): void {
    if (!this.o.audit) return;
    const entry: AuditEntry = {
      time: new Date().toISOString(),
      session: this.o.session.id,
      identity: this.o.session.identity,
      role: this.o.mcp.role,
      type: 'mcp',
      ...e,
      ...(e.durationMs !== undefined ? { durationMs: Math.round(e.durationMs * 1000) / 1000 } : {}),
    } as AuditEntry;
    try {
      this.o.audit.append(entry);
    } catch (err) {
      this.o.log?.(`tollgate mcp: audit: ${(err as Error).message}`);
    }
  }
}

/** The capabilities the agent is told about: the server's, for the features tollgate passes on. */
function mirrorCapabilities(c: ServerCapabilities): ServerCapabilities {
  const out: ServerCapabilities = {};
  if (c.tools) out.tools = { listChanged: true };
  if (c.resources) out.resources = { listChanged: true, ...(c.resources.subscribe ? { subscribe: true } : {}) };
  if (c.prompts) out.prompts = { listChanged: true };
  if (c.logging) out.logging = {};
  if (c.completions) out.completions = {};
  return out;
}

/** A client's own progress token is not forwarded: the SDK sets its own when we relay progress. */
function stripProgress(params: unknown): unknown {
  if (!params || typeof params !== 'object') return params;
  const p = params as { _meta?: Record<string, unknown> };
  if (!p._meta || !('progressToken' in p._meta)) return params;
  const { progressToken: _t, ...meta } = p._meta;
  return { ...p, _meta: meta };
}
