// The client side over streamable HTTP, on loopback only, authenticated with the session secret
// (Bearer). One wrapper serves one MCP session, as over stdio: the SDK's transport refuses a second
// initialize. Host and Origin are checked (DNS rebinding: a web page in the runner's browser must not
// reach the gateway through a name that resolves to 127.0.0.1), bodies are bounded.
import { timingSafeEqual, randomUUID, createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';

export const MAX_HTTP_BODY = 4 * 1024 * 1024;

export interface HttpListener {
  transport: StreamableHTTPServerTransport;
  url: string;
  port: number;
  close(): Promise<void>;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

function deny(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message: `tollgate: ${message}` } }));
}

export async function listenHttp(host: string, port: number, secret: string, onRefused: (why: string) => void): Promise<HttpListener> {
  if (!['127.0.0.1', '::1', 'localhost'].includes(host)) throw new TypeError(`--listen must be a loopback address (127.0.0.1, ::1 or localhost), got ${host}`);
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), maxRequestBodySize: MAX_HTTP_BODY });
  const want = digest(`Bearer ${secret}`);
  let allowedHosts: Set<string> = new Set();
  const server: HttpServer = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '';
    if (!/^\/mcp(?:\?|$)/.test(url)) return deny(res, 404, 'not found: the MCP endpoint is /mcp');
    if (!allowedHosts.has(String(req.headers.host ?? ''))) {
      onRefused(`HTTP request with Host ${JSON.stringify(req.headers.host ?? '')}`);
      return deny(res, 403, 'refused: unexpected Host header');
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !/^https?:\/\/(?:127\.0\.0\.1|localhost|\[::1\])(?::\d+)?$/.test(origin)) {
      onRefused(`HTTP request from Origin ${JSON.stringify(origin)}`);
      return deny(res, 403, 'refused: cross-origin request');
    }
    const auth = String(req.headers.authorization ?? '');
    if (!timingSafeEqual(digest(auth), want)) {
      onRefused('HTTP request without the session secret');
      return deny(res, 401, 'unauthorized: send the session secret as a Bearer token', { 'www-authenticate': 'Bearer realm="tollgate"' });
    }
    const length = Number(req.headers['content-length'] ?? 0);
    if (length > MAX_HTTP_BODY) {
      onRefused(`HTTP body of ${length} bytes`);
      return deny(res, 413, `refused: the message is over ${MAX_HTTP_BODY} bytes`);
    }
    transport.handleRequest(req, res).catch(() => {
      if (!res.headersSent) deny(res, 500, 'internal error');
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  allowedHosts = new Set([`${shown}:${actual}`, `localhost:${actual}`, `127.0.0.1:${actual}`]);
  return {
    transport,
    port: actual,
    url: `http://${shown}:${actual}/mcp`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
