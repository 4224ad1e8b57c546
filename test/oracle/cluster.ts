// A private PostgreSQL cluster for the oracle: initdb into a scratch folder, a postmaster on a loopback
// port of its own, stopped and removed at the end. Never the shared server at 5432: the oracle creates
// roles, revokes PUBLIC's rights on built-ins and replays PostgreSQL's regression SQL as superuser.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface Cluster {
  port: number;
  dir: string;
  /** A new superuser connection to `database` (default postgres). */
  connect(database?: string): Promise<pg.Client>;
  stop(): Promise<void>;
}

/** /usr/lib/postgresql/<newest>/bin, or TOLLGATE_PG_BIN. */
export function pgBin(): string {
  if (process.env.TOLLGATE_PG_BIN) return process.env.TOLLGATE_PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  if (!versions.length) throw new Error(`no PostgreSQL binaries under ${root} (set TOLLGATE_PG_BIN)`);
  return join(root, versions[0]!, 'bin');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** As root, PostgreSQL refuses to run: the `postgres` OS user runs it. */
function asPostgres(cmd: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

function pgUid(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const r = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (r.status !== 0 || g.status !== 0) throw new Error('running as root needs an OS user named postgres');
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
}

export async function startCluster(): Promise<Cluster> {
  const bin = pgBin();
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-oracle-'));
  const owner = pgUid();
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const data = join(dir, 'data');
  const [initCmd, initArgs] = asPostgres(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
  const init = spawnSync(initCmd, initArgs, { encoding: 'utf8' });
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
  }
  const port = await freePort();
  const [cmd, args] = asPostgres(join(bin, 'postgres'), [
    '-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1',
    '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
    // The proxy pins search_path=public upstream; the oracle's sessions resolve names the same way.
    '-c', 'search_path=public', '-c', 'max_prepared_transactions=10', '-c', 'log_min_messages=fatal',
    '-c', 'logging_collector=off', '-c', 'max_locks_per_transaction=256',
  ]);
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: false });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const connect = async (database = 'postgres'): Promise<pg.Client> => {
    const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database });
    c.on('error', () => undefined);
    await c.connect();
    return c;
  };
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) {
      // pg_ctl signals the postmaster itself (runuser in between may not forward signals).
      const [c2, a2] = asPostgres(join(bin, 'pg_ctl'), ['stop', '-D', data, '-m', 'fast', '-w']);
      spawnSync(c2, a2, { stdio: 'ignore', timeout: 30_000 });
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  for (let i = 0; ; i++) {
    try {
      const c = await connect();
      await c.end();
      break;
    } catch (err) {
      if (child.exitCode !== null || i > 200) {
        await stop();
        throw new Error(`the private PostgreSQL did not start: ${stderr || String(err)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { port, dir, connect, stop };
}
