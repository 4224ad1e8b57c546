#!/usr/bin/env node
// npm run bench: pgbench select-only (-S) through three paths — direct, pgbouncer (session pooling)
// and tollgate — plus a plain Node.js byte pipe (scripts/node-pipe.mjs) as the floor of any Node.js
// proxy, interleaved round by round so that drift on this shared machine hits all of them alike.
// Before measuring, each mode runs once through tollgate and the pipe unmeasured (BENCH_WARMUP
// seconds, default 2), so the JIT has compiled the hot path as it has in a job that runs for minutes.
// Prints one JSON document: TPS per path and cell, ratios to direct, tollgate's ratio to pgbouncer
// and to the Node pipe, and the latency each path adds. With --memory it also streams a 5-million-row SELECT with a masked
// column through tollgate and reports the proxy's peak resident memory.
//
// Environment: PGHOST/PGPORT of the real server (default 127.0.0.1:5432, user postgres),
// BENCH_SECONDS per run (default 5), BENCH_ROUNDS (default 3), BENCH_SCALE (default 1), BENCH_DIST
// (the build to run, default dist/), BENCH_NODE_FLAGS (extra node flags for the proxy, e.g. to profile).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const host = process.env.PGHOST ?? '127.0.0.1';
const port = Number(process.env.PGPORT ?? 5432);
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const scale = Number(process.env.BENCH_SCALE ?? 1);
const warmup = Number(process.env.BENCH_WARMUP ?? 2);
const memoryOnly = process.argv.includes('--memory-only');
const withMemory = memoryOnly || process.argv.includes('--memory');
const db = 'tollgate_bench';
const password = 'bench-secret-not-for-production';
const work = mkdtempSync(join(tmpdir(), 'tollgate-bench-'));

function log(line) {
  process.stderr.write(`bench: ${line}\n`);
}

function psql(sql, database = 'postgres') {
  return execFileSync('psql', ['-h', host, '-p', String(port), '-U', 'postgres', '-d', database, '-tAqc', sql], {
    encoding: 'utf8',
  }).trim();
}

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port: p } = s.address();
      s.close(() => res(p));
    });
  });
}

function which(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).stdout.trim();
}

async function waitForPort(p, child, what) {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited early with code ${child.exitCode}`);
    const ok = spawnSync('pg_isready', ['-h', '127.0.0.1', '-p', String(p), '-q']).status === 0;
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not listen on ${p}`);
}

async function startPgbouncer() {
  let bin = which('pgbouncer') || (existsSync('/usr/sbin/pgbouncer') ? '/usr/sbin/pgbouncer' : '');
  if (!bin) {
    log("installing pgbouncer from Debian's packages");
    execFileSync('apt-get', ['install', '-y', '-qq', 'pgbouncer'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    bin = '/usr/sbin/pgbouncer';
  }
  const p = await freePort();
  const ini = join(work, 'pgbouncer.ini');
  writeFileSync(
    ini,
    [
      '[databases]',
      `* = host=${host} port=${port} user=postgres`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${p}`,
      'auth_type = any',
      'pool_mode = session',
      'max_client_conn = 200',
      'default_pool_size = 20',
      'unix_socket_dir =',
      `logfile = ${join(work, 'pgbouncer.log')}`,
      '',
    ].join('\n'),
  );
  // pgbouncer refuses to run as root; drop to postgres then.
  const args = [ini];
  if (process.getuid?.() === 0) {
    chownSync(work, uidOf('postgres'), -1);
    chownSync(ini, uidOf('postgres'), -1);
    args.unshift('-u', 'postgres');
  }
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  await waitForPort(p, child, 'pgbouncer');
  return { port: p, child };
}

function uidOf(user) {
  return Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
}

async function startTollgate(policyFile) {
  // BENCH_DIST: another build's directory (to compare two builds without touching dist/).
  const cli = join(resolve(root, process.env.BENCH_DIST ?? 'dist'), 'cli.js');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first`);
  const p = await freePort();
  const child = spawn(
    process.execPath,
    [
      ...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean),
      cli, 'serve',
      '--policy', policyFile,
      '--role', 'bench',
      '--upstream', `postgres://postgres@${host}:${port}/${db}`,
      '--listen', `127.0.0.1:${p}`,
      '--audit', join(work, 'audit.jsonl'),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TOLLGATE_PASSWORD: password } },
  );
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  try {
    await waitForPort(p, child, 'tollgate');
  } catch (e) {
    throw new Error(`${e.message}: ${stderr.trim()}`);
  }
  return { port: p, child };
}

async function startNodePipe() {
  const p = await freePort();
  const child = spawn(process.execPath, [join(root, 'scripts', 'node-pipe.mjs'), String(p), host, String(port)], { stdio: 'ignore' });
  await waitForPort(p, child, 'node pipe');
  return { port: p, child };
}

function pgbench(path, mode, clients, time = seconds) {
  const args = ['-h', '127.0.0.1', '-p', String(path.port), '-U', path.user, '-S', '-n', '-M', mode,
    '-c', String(clients), '-j', String(clients), '-T', String(time), db];
  const r = spawnSync('pgbench', args, { encoding: 'utf8', env: { ...process.env, PGPASSWORD: path.password ?? '' } });
  const tps = /tps = ([\d.]+)/.exec(r.stdout);
  const lat = /latency average = ([\d.]+) ms/.exec(r.stdout);
  if (r.status !== 0 || !tps || !lat) {
    throw new Error(`pgbench via ${path.name} (${mode}, c${clients}) failed: ${(r.stderr || r.stdout).trim()}`);
  }
  return { tps: Number(tps[1]), latencyMs: Number(lat[1]) };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (x, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

async function measureMemory(tollgate) {
  // 5 million rows with a masked text column, streamed to /dev/null by psql through the proxy.
  log('memory: preparing 5,000,000 rows');
  psql(
    `DROP TABLE IF EXISTS bench_people; CREATE TABLE bench_people AS
       SELECT g AS id, 'person' || g || '@example.com' AS email FROM generate_series(1, 5000000) g;`,
    db,
  );
  // The sampler runs on this process's event loop, so psql runs as an async child (a spawnSync would
  // block every sample and report 0).
  let peak = 0;
  const sample = setInterval(() => {
    try {
      const status = readFileSync(`/proc/${tollgate.child.pid}/status`, 'utf8');
      const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
      peak = Math.max(peak, rss);
    } catch {
      /* the process may be between samples */
    }
  }, 50);
  const started = Date.now();
  const r = await new Promise((res, rej) => {
    const child = spawn('sh', ['-c', `psql -h 127.0.0.1 -p ${tollgate.port} -U tollgate -d ${db} -tAc 'SELECT id, email FROM bench_people' | tail -n 1`], {
      env: { ...process.env, PGPASSWORD: password },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', rej);
    child.on('close', (status) => res({ status, stdout, stderr }));
  });
  clearInterval(sample);
  psql('DROP TABLE IF EXISTS bench_people', db);
  const last = r.stdout.trim();
  if (r.status !== 0 || !last.startsWith('5000000|')) throw new Error(`memory run failed: ${r.stderr.trim()}`);
  return {
    rows: 5_000_000,
    lastRow: last,
    masked: !last.includes('@example.com'),
    peakRssMb: round(peak, 1),
    seconds: round((Date.now() - started) / 1000, 1),
  };
}

async function main() {
  log(`database ${db}, scale ${scale}, ${rounds} rounds of ${seconds}s per cell and path`);
  if (psql(`SELECT 1 FROM pg_database WHERE datname = '${db}'`) !== '1') psql(`CREATE DATABASE ${db}`);
  execFileSync('pgbench', ['-h', host, '-p', String(port), '-U', 'postgres', '-i', '-q', '-s', String(scale), db], { stdio: 'ignore' });

  const policy = join(work, 'bench.yml');
  writeFileSync(
    policy,
    [
      'version: 1',
      'roles:',
      '  bench:',
      '    match: { repository: "*" }',
      '    postgres:',
      '      rules:',
      '        - { action: allow, kinds: [read], objects: ["public.*"] }',
      '      masks:',
      '        - { columns: ["public.bench_people.email"], strategy: redact }',
      '',
    ].join('\n'),
  );

  const bouncer = await startPgbouncer();
  const tollgate = await startTollgate(policy);
  const pipe = await startNodePipe();
  const paths = [
    { name: 'direct', port, user: 'postgres' },
    { name: 'pgbouncer', port: bouncer.port, user: 'postgres' },
    { name: 'tollgate', port: tollgate.port, user: 'tollgate', password },
    { name: 'nodePipe', port: pipe.port, user: 'postgres' },
  ];
  try {
    if (!memoryOnly && warmup > 0) {
      for (const mode of ['simple', 'prepared']) {
        for (const p of paths.filter((x) => x.name === 'tollgate' || x.name === 'nodePipe')) pgbench(p, mode, 8, warmup);
      }
      log(`warmed up tollgate and the node pipe (${warmup}s per mode)`);
    }
    const cells = [];
    for (const mode of memoryOnly ? [] : ['simple', 'prepared']) {
      for (const clients of [1, 8]) {
        const runs = Object.fromEntries(paths.map((p) => [p.name, []]));
        for (let r = 0; r < rounds; r++) {
          for (const p of paths) {
            runs[p.name].push(pgbench(p, mode, clients));
            log(`${mode} c${clients} round ${r + 1} ${p.name}: ${runs[p.name].at(-1).tps} tps`);
          }
        }
        const tps = Object.fromEntries(paths.map((p) => [p.name, round(median(runs[p.name].map((x) => x.tps)), 1)]));
        const lat = Object.fromEntries(paths.map((p) => [p.name, median(runs[p.name].map((x) => x.latencyMs))]));
        cells.push({
          mode,
          clients,
          tps,
          ratioToDirect: {
            pgbouncer: round(tps.pgbouncer / tps.direct),
            tollgate: round(tps.tollgate / tps.direct),
            nodePipe: round(tps.nodePipe / tps.direct),
          },
          tollgateVsPgbouncer: round(tps.tollgate / tps.pgbouncer),
          nodePipeVsPgbouncer: round(tps.nodePipe / tps.pgbouncer),
          tollgateVsNodePipe: round(tps.tollgate / tps.nodePipe),
          addedLatencyMs: {
            pgbouncer: round(lat.pgbouncer - lat.direct, 4),
            tollgate: round(lat.tollgate - lat.direct, 4),
            nodePipe: round(lat.nodePipe - lat.direct, 4),
          },
        });
      }
    }
    const result = { tool: 'pgbench -S', seconds, rounds, warmupSeconds: memoryOnly ? 0 : warmup, scale, node: process.version, cells };
    if (withMemory) result.memory = await measureMemory(tollgate);
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  } finally {
    tollgate.child.kill('SIGTERM');
    bouncer.child.kill('SIGTERM');
    pipe.child.kill('SIGTERM');
  }
}

main().catch((e) => {
  process.stderr.write(`bench: ${e.message}\n`);
  process.exit(1);
});
