// Attacks on the HTTP listener as a request smuggler would send them, over a raw socket, each with
// the exact answer and proof that nothing extra reached the upstream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRaw, raw, SECRET, startHarness, startUpstream, type Harness } from '../support/http-proxy.js';

let up: Awaited<ReturnType<typeof startUpstream>>;
let h: Harness;
let P = 0;
const A = `Authorization: Bearer ${SECRET}\r\n`;
const H = () => `Host: 127.0.0.1:${P}\r\n`;

beforeAll(async () => {
  up = await startUpstream();
  up.server.on('upgrade', (_req, socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\r\n');
    socket.end();
  });
  h = await startHarness(`
version: 1
roles:
  ci:
    match: { repository: acme/* }
    http:
      upstreams:
        api: { url: "${up.url}" }
      rules:
        - { action: deny,  paths: ["/admin/**", "/admin"] }
        - { action: allow, methods: [GET, POST], paths: ["/**"] }
`);
  P = h.port('api');
});
afterAll(async () => {
  await h?.close();
  await up?.close();
});

/** Sends the bytes; returns status, the tollgate message (or the raw text) and what reached the upstream. */
async function send(bytes: string) {
  const before = up.seen.length;
  const text = await raw(P, bytes, 1000);
  const answers = text.split(/(?=HTTP\/1\.1 \d{3} )/).filter(Boolean).map((t) => {
    const r = parseRaw(t);
    const b = r.body as { error?: { message?: string } };
    return `${r.status} ${b?.error?.message ?? ''}`.trim();
  });
  return { answers, reached: up.seen.slice(before).map((s) => `${s.method} ${s.url}`) };
}

const BAD = (why: string) => `400 tollgate: cannot judge this request safely: ${why}`;

describe('request smuggling', () => {
  it.each([
    ['Content-Length with Transfer-Encoding', () => `POST /x HTTP/1.1\r\n${H()}${A}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, BAD('malformed request (HPE_INVALID_TRANSFER_ENCODING)')],
    ['Transfer-Encoding with Content-Length', () => `POST /x HTTP/1.1\r\n${H()}${A}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n`, BAD('malformed request (HPE_INVALID_CONTENT_LENGTH)')],
    ['two different Content-Lengths', () => `POST /x HTTP/1.1\r\n${H()}${A}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`, BAD('malformed request (HPE_UNEXPECTED_CONTENT_LENGTH)')],
    ['two equal Content-Lengths', () => `POST /x HTTP/1.1\r\n${H()}${A}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`, BAD('malformed request (HPE_UNEXPECTED_CONTENT_LENGTH)')],
    ['Transfer-Encoding gzip, chunked', () => `POST /x HTTP/1.1\r\n${H()}${A}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`, BAD('Transfer-Encoding "gzip, chunked" (only chunked is accepted)')],
    ['Transfer-Encoding chunked twice', () => `POST /x HTTP/1.1\r\n${H()}${A}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, BAD('malformed request (HPE_INVALID_TRANSFER_ENCODING)')],
    ['Transfer-Encoding xchunked', () => `POST /x HTTP/1.1\r\n${H()}${A}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`, BAD('malformed request (HPE_INVALID_TRANSFER_ENCODING)')],
    ['Transfer-Encoding with a space before the colon', () => `POST /x HTTP/1.1\r\n${H()}${A}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`, BAD('malformed request (HPE_INVALID_HEADER_TOKEN)')],
    ['a folded header', () => `GET /x HTTP/1.1\r\n${H()}${A}X-A: a\r\n b\r\n\r\n`, BAD('malformed request (HPE_INVALID_HEADER_TOKEN)')],
    ['CR inside a header value', () => `GET /x HTTP/1.1\r\n${H()}${A}X-A: a\rb\r\n\r\n`, BAD('malformed request (HPE_LF_EXPECTED)')],
    ['LF-only line ends', () => `GET /x HTTP/1.1\n${H().replace('\r', '')}${A.replace('\r', '')}\n`, BAD('malformed request (HPE_INVALID_VERSION)')],
    ['NUL in a header value', () => `GET /x HTTP/1.1\r\n${H()}${A}X-A: a\u0000b\r\n\r\n`, BAD('malformed request (HPE_INVALID_HEADER_TOKEN)')],
    ['a bad Content-Length', () => `POST /x HTTP/1.1\r\n${H()}${A}Content-Length: +5\r\n\r\nhello`, BAD('malformed request (HPE_INVALID_CONTENT_LENGTH)')],
    ['absolute-form target', () => `GET http://127.0.0.1:${P}/x HTTP/1.1\r\n${H()}${A}\r\n`, BAD('absolute-form request target')],
    ['absolute-form target to another host', () => `GET http://internal.example/admin HTTP/1.1\r\n${H()}${A}\r\n`, BAD('absolute-form request target')],
    ['Host of another site', () => `GET /x HTTP/1.1\r\nHost: evil.example\r\n${A}\r\n`, BAD('Host "evil.example" does not name this listener')],
    ['two Host headers', () => `GET /x HTTP/1.1\r\n${H()}Host: evil.example\r\n${A}\r\n`, BAD('header host given more than once')],
    ['no Host', () => `GET /x HTTP/1.1\r\n${A}\r\n`, '400'],
    ['two Authorization headers', () => `GET /x HTTP/1.1\r\n${H()}${A}Authorization: Bearer other\r\n\r\n`, BAD('header authorization given more than once')],
    ['CONNECT', () => `CONNECT internal.example:443 HTTP/1.1\r\n${H()}${A}\r\n`, BAD('CONNECT is not proxied')],
    ['an encoded slash', () => `GET /admin%2Fusers HTTP/1.1\r\n${H()}${A}\r\n`, BAD('encoded slash (%2F) in the path')],
    ['a dot segment', () => `GET /public/../admin HTTP/1.1\r\n${H()}${A}\r\n`, BAD('dot segment (. or ..) in the path')],
    ['an encoded dot segment', () => `GET /public/%2e%2e/admin HTTP/1.1\r\n${H()}${A}\r\n`, BAD('dot segment (. or ..) in the path')],
    ['a ; parameter', () => `GET /admin;x=1 HTTP/1.1\r\n${H()}${A}\r\n`, BAD('";" parameters in the path')],
    ['a backslash', () => `GET /public\\..\\admin HTTP/1.1\r\n${H()}${A}\r\n`, BAD('backslash in the path')],
    ['h2c upgrade (a tunnel of undecided requests)', () => `GET /x HTTP/1.1\r\n${H()}${A}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`, BAD('upgrade to "h2c" is not proxied (only websocket and SPDY/3.1)')],
    ['Expect of something else', () => `POST /x HTTP/1.1\r\n${H()}${A}Expect: 200-ok\r\nContent-Length: 0\r\n\r\n`, '417'],
    ['HTTP/1.0 without Host', () => `GET /x HTTP/1.0\r\n${A}\r\n`, BAD('no Host header')],
  ])('%s', async (_name, bytes, answer) => {
    // the Node parser's refusals (HPE_*) come through the listener's clientError handler
    expect(await send(bytes())).toEqual({ answers: [answer], reached: [] });
  });

  it('a request hidden in a body is body to the upstream, never a request', async () => {
    const inner = `GET /admin HTTP/1.1\r\nHost: x\r\n\r\n`;
    expect(await send(`POST /x HTTP/1.1\r\n${H()}${A}Content-Length: ${inner.length}\r\n\r\n${inner}`)).toEqual({ answers: ['200'], reached: ['POST /x'] });
    expect(up.seen[up.seen.length - 1]!.bodyBytes).toBe(inner.length);
  });
  it('a denied request\'s body is its body (dropped); the request pipelined after it is decided on its own', async () => {
    expect(await send(`POST /admin HTTP/1.1\r\n${H()}${A}Content-Length: 5\r\n\r\nhelloGET /x HTTP/1.1\r\n${H()}${A}\r\n`)).toEqual({
      answers: ['403 tollgate: denied: POST /admin denied by roles.ci.http.rules[0]', '200'],
      reached: ['GET /x'],
    });
  });
  it('a denied request whose body has not arrived closes the connection instead of reading it', async () => {
    expect(await send(`POST /admin HTTP/1.1\r\n${H()}${A}Content-Length: 1000000\r\n\r\nhello`)).toEqual({
      answers: ['403 tollgate: denied: POST /admin denied by roles.ci.http.rules[0]'],
      reached: [],
    });
  });
  it('chunk framing is redone: a bad chunk size ends the request, nothing follows it upstream', async () => {
    const r = await send(`POST /x HTTP/1.1\r\n${H()}${A}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nGET /admin HTTP/1.1\r\n\r\n`);
    // the body had started streaming upstream when the bad chunk arrived: that request is cut off
    expect(r).toEqual({ answers: [BAD('malformed request (HPE_INVALID_CHUNK_SIZE)')], reached: ['POST /x'] });
  });
  it('pipelined allowed requests are each decided', async () => {
    expect(await send(`GET /a HTTP/1.1\r\n${H()}${A}\r\nGET /admin HTTP/1.1\r\n${H()}${A}\r\nGET /b HTTP/1.1\r\n${H()}${A}\r\n`)).toEqual({
      answers: ['200', '403 tollgate: denied: GET /admin denied by roles.ci.http.rules[0]', '200'],
      reached: ['GET /a', 'GET /b'],
    });
  });
});
