// What the gateway's HTTP listeners share: one error type with a stable code, the error body
// `{"error": {"code", "message"}}`, a bounded body reader, and the Bearer credential.
import type { IncomingMessage, ServerResponse } from 'node:http';

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Largest request body accepted (the API's bodies are a few hundred bytes; a webhook is bigger). */
export const MAX_BODY = 16 * 1024;

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, err: ApiError): void {
  sendJson(res, err.status, { error: { code: err.code, message: err.message } }, err.headers);
}

/** The body, at most `limit` bytes; a larger one is refused with 413 before it is all read. */
export async function readBody(req: IncomingMessage, limit = MAX_BODY): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    throw new ApiError(413, 'too_large', `the request body is ${declared} bytes; at most ${limit} are accepted`, { connection: 'close' });
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new ApiError(413, 'too_large', `the request body is larger than ${limit} bytes`, { connection: 'close' });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** A JSON object body (empty body = {}), or 400 saying what is wrong. */
export async function readJsonObject(req: IncomingMessage, limit = MAX_BODY): Promise<Record<string, unknown>> {
  const body = await readBody(req, limit);
  if (body.length === 0) return {};
  const type = String(req.headers['content-type'] ?? '');
  if (!/^application\/json\b/i.test(type)) throw new ApiError(415, 'unsupported_media_type', 'send the body as application/json');
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new ApiError(400, 'bad_request', 'the request body is not valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ApiError(400, 'bad_request', 'the request body must be a JSON object');
  return value as Record<string, unknown>;
}

/** The Bearer credential, or 401 with a challenge. */
export function bearer(req: IncomingMessage, what: string): string {
  const h = req.headers.authorization;
  const m = typeof h === 'string' ? /^Bearer +([\x21-\x7e]{1,8192})$/i.exec(h) : null;
  if (!m) throw new ApiError(401, 'unauthenticated', `send ${what} as Authorization: Bearer <${what}>`, { 'www-authenticate': 'Bearer' });
  return m[1]!;
}

/** The remote address for records (never trusted for decisions). */
export function remoteOf(req: IncomingMessage): string {
  return req.socket?.remoteAddress ?? 'unknown';
}
