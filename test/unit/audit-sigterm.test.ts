// A process that records and is stopped with SIGTERM loses nothing when it awaits close().
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { verifyAuditFile } from '../../src/audit/verify.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'audit-sigterm-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('SIGTERM while appending: every appended record is on disk and the chain verifies', async () => {
  const src = join(dir, 'child.ts');
  await writeFile(
    src,
    `import { AuditLog } from ${JSON.stringify(resolve('src/audit/log.ts'))};
const log = await AuditLog.open(process.argv[2]!);
let n = 0;
const timer = setInterval(() => {
  for (let i = 0; i < 200; i++) {
    n++;
    log.append({ time: new Date().toISOString(), session: 's', identity: {}, role: 'r', type: 'sql', statement: 'SELECT $1', decision: 'allow', rows: n });
  }
}, 1);
process.on('SIGTERM', async () => {
  clearInterval(timer);
  await log.close();
  process.stdout.write('appended ' + n + '\\n');
  process.exit(0);
});
process.stdout.write('ready\\n');
`,
  );
  const out = join(dir, 'child.mjs');
  await build({ entryPoints: [src], bundle: true, platform: 'node', format: 'esm', outfile: out, logLevel: 'silent' });
  const logPath = join(dir, 'log.jsonl');
  const child = spawn(process.execPath, [out, logPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  await new Promise<void>((res) => {
    const onData = () => {
      if (stdout.includes('ready')) {
        child.stdout.off('data', onData);
        res();
      }
    };
    child.stdout.on('data', onData);
  });
  await new Promise((r) => setTimeout(r, 300));
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  expect(code).toBe(0);
  const appended = Number(/appended (\d+)/.exec(stdout)?.[1]);
  expect(appended).toBeGreaterThan(200);
  expect(await verifyAuditFile(logPath)).toMatchObject({ ok: true, count: appended });
});
