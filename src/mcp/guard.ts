// A transport wrapper in front of the SDK's own, on the client side: what the SDK would pass on or
// drop silently gets a clear JSON-RPC error and an audit line instead.
//  - A request whose id is still in flight (a duplicate) is refused with -32600: two answers with
//    one id would let a client mistake one result for another.
//  - A message the SDK cannot parse (not JSON, a batch, not JSON-RPC) is answered -32700/-32600
//    with id null, since it has no id we could trust.
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, MessageExtraInfo, RequestId } from '@modelcontextprotocol/sdk/types.js';

export interface GuardEvents {
  /** A message was refused before the SDK saw it. */
  refused(what: { method: string; reason: string; code: number }): void;
}

const key = (id: RequestId) => `${typeof id}:${String(id)}`;

export class GuardedTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void;
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly inner: Transport,
    private readonly events: GuardEvents,
  ) {
    inner.onclose = () => this.onclose?.();
    inner.onerror = (err) => this.malformed(err);
    inner.onmessage = (message, extra) => this.receive(message as JSONRPCMessage, extra);
  }

  get sessionId(): string | undefined {
    return this.inner.sessionId;
  }

  setProtocolVersion(version: string): void {
    this.inner.setProtocolVersion?.(version);
  }

  start(): Promise<void> {
    return this.inner.start();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const m = message as { id?: RequestId; method?: string };
    if (m.method === undefined && m.id !== undefined && m.id !== null) this.inFlight.delete(key(m.id));
    return this.inner.send(message, options);
  }

  private receive(message: JSONRPCMessage, extra?: MessageExtraInfo): void {
    const m = message as { id?: RequestId; method?: string };
    if (m.method !== undefined && m.id !== undefined) {
      const k = key(m.id);
      if (this.inFlight.has(k)) {
        const reason = `duplicate request id ${JSON.stringify(m.id)}: a request with this id is still in flight`;
        this.events.refused({ method: m.method, reason, code: -32600 });
        void this.inner.send({ jsonrpc: '2.0', id: m.id, error: { code: -32600, message: `tollgate: refused: ${reason}` } }).catch(() => {});
        return;
      }
      this.inFlight.add(k);
    }
    this.onmessage?.(message, extra);
  }

  private malformed(err: Error): void {
    const text = String(err?.message ?? err);
    // The SDK's stdio reader reports JSON.parse failures as SyntaxError and schema failures as a
    // ZodError; both mean a line it dropped. Anything else is a transport error.
    const parse = err instanceof SyntaxError;
    const invalid = !parse && (err?.name === 'ZodError' || /invalid_union|invalid_type|Unrecognized key/.test(text));
    if (parse || invalid) {
      const code = parse ? -32700 : -32600;
      const reason = parse ? 'the message is not valid JSON' : 'the message is not a single JSON-RPC 2.0 message (batches are not part of MCP)';
      this.events.refused({ method: '', reason, code });
      const reply = { jsonrpc: '2.0', id: null, error: { code, message: `tollgate: refused: ${reason}` } };
      void this.inner.send(reply as unknown as JSONRPCMessage).catch(() => {});
      return;
    }
    this.onerror?.(err);
  }
}
