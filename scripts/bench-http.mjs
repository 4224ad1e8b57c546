#!/usr/bin/env node
// npm run bench:http: the HTTP listener against going direct, on one local node:http upstream.
//   1. small GETs over keep-alive connections (BENCH_HTTP_CONNECTIONS, default 8) for BENCH_SECONDS
//      (default 5), rounds interleaved (BENCH_ROUNDS, default 3): requests per second, ratio, latency added;
//   2. a streamed upload of BENCH_UPLOAD_MIB (default 1024) MiB: throughput, ratio, and the proxy's peak
//      resident memory (sampled from /proc while it runs) against its resident memory before.
// The proxy runs as `tollgate serve` from dist/ (a separate process, as in a job). Prints one JSON document.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool, request } from 'undici';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const connections = Number(process.env.BENCH_HTTP_CONNECTIONS ?? 8);
const uploadMiB = Number(process.env.BENCH_UPLOAD_MIB ?? 1024);
const secret = 'bench-http-secret';
const work = mkdtempSync(join(tmpdir(), 'tollgate-bench-http-'));
const log = (l) => process.stderr.write(`bench:http: ${l}\n`);

const upstream = createServer((req, res) => {
  if (req.method === 'GET') return res.end('ok');
  let n = 0;
  req.on('data', (c) => { n += c.length; });
  req.on('end', () => res.end(String(n)));
});
await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
const upstreamUrl = `http://127.0.0.1:${upstream.address().port}`;

writeFileSync(join(work, 'policy.yml'), `
version: 1
roles:
  bench:
    match: { repository: x }
    http:
      upstreams:
        api: { url: "${upstreamUrl}" }
      rules:
        - { action: allow, methods: [GET, POST], paths: ["/**"] }
`);
const pgUpstream = process.env.BENCH_PG_UPSTREAM ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const proxy = spawn(process.execPath, [join(root, 'dist', 'cli.js'), 'serve', '--policy', join(work, 'policy.yml'), '--role', 'bench',
  '--upstream', pgUpstream, '--listen', '127.0.0.1:0', '--audit', join(work, 'audit.jsonl')], {
  stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, TOLLGATE_PASSWORD: secret },
});
const proxyUrl = await new Promise((resolveUrl, reject) => {
  let out = '';
  proxy.stdout.on('data', (d) => {
    out += d;
    const m = /tollgate: http api listening on (\S+)/.exec(out);
    if (m) resolveUrl(`http://${m[1]}`);
  });
  proxy.on('exit', (code) => reject(new Error(`tollgate serve exited with ${code}`)));
});
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${proxy.pid}/status`, 'utf8'))[1]) * 1024;
const headers = { authorization: `Bearer ${secret}` };

async function gets(url, ms) {
  const pool = new Pool(url, { connections, pipelining: 1 });
  let count = 0;
  let latency = 0;
  const end = Date.now() + ms;
  await Promise.all(Array.from({ length: connections }, async () => {
    while (Date.now() < end) {
      const t0 = process.hrtime.bigint();
      const r = await pool.request({ method: 'GET', path: '/small', headers });
      await r.body.text();
      latency += Number(process.hrtime.bigint() - t0) / 1e6;
      count++;
    }
  }));
  await pool.close();
  return { rps: count / (ms / 1000), latencyMs: latency / count };
}

async function upload(url, mib, sample) {
  const chunk = Buffer.alloc(1024 * 1024, 7);
  let peak = 0;
  const timer = sample ? setInterval(() => { peak = Math.max(peak, rss()); }, 50) : null;
  const t0 = process.hrtime.bigint();
  const r = await request(`${url}/upload`, {
    method: 'POST', headers,
    body: (async function* () { for (let i = 0; i < mib; i++) yield chunk; })(),
  });
  const got = Number(await r.body.text());
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (timer) clearInterval(timer);
  if (got !== mib * 1024 * 1024) throw new Error(`upload: the upstream got ${got} bytes`);
  return { mibPerSecond: mib / s, seconds: s, peakRss: peak };
}

try {
  log(`warm-up ${seconds}s through the proxy`);
  await gets(proxyUrl, seconds * 1000);
  const direct = [];
  const through = [];
  for (let i = 0; i < rounds; i++) {
    direct.push(await gets(upstreamUrl, seconds * 1000));
    through.push(await gets(proxyUrl, seconds * 1000));
    log(`round ${i + 1}: direct ${direct[i].rps.toFixed(0)} req/s, tollgate ${through[i].rps.toFixed(0)} req/s`);
  }
  const mean = (xs, k) => xs.reduce((a, x) => a + x[k], 0) / xs.length;
  const rssBefore = rss();
  log(`upload ${uploadMiB} MiB direct, then through the proxy`);
  const upDirect = await upload(upstreamUrl, uploadMiB, false);
  const upProxy = await upload(proxyUrl, uploadMiB, true);
  const result = {
    smallGets: {
      connections, seconds, rounds,
      directRps: Math.round(mean(direct, 'rps')),
      tollgateRps: Math.round(mean(through, 'rps')),
      ratio: +(mean(through, 'rps') / mean(direct, 'rps')).toFixed(2),
      latencyAddedMs: +(mean(through, 'latencyMs') - mean(direct, 'latencyMs')).toFixed(3),
    },
    upload: {
      mib: uploadMiB,
      directMiBps: +upDirect.mibPerSecond.toFixed(1),
      tollgateMiBps: +upProxy.mibPerSecond.toFixed(1),
      ratio: +(upProxy.mibPerSecond / upDirect.mibPerSecond).toFixed(2),
      proxyRssBeforeMiB: +(rssBefore / 1048576).toFixed(1),
      proxyPeakRssMiB: +(upProxy.peakRss / 1048576).toFixed(1),
    },
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} finally {
  proxy.kill('SIGTERM');
  upstream.close();
  upstream.closeAllConnections();
  rmSync(work, { recursive: true, force: true });
}
