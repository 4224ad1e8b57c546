// A test host of its own (FIELD-NOTES, "Separate hosts on one machine"): a network namespace joined
// to this one by a veth pair on a /30 of 10.x.y.z picked at random, so a server in it is reached at
// a non-loopback address. Only addresses inside the pair are used; remove() deletes the namespace
// (which deletes the pair). Needs root and `ip`.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface TestHost {
  name: string;
  /** This machine's side of the pair. */
  localAddress: string;
  /** The namespace's address: where a server in it listens. */
  address: string;
  /** Starts `cmd args` inside the namespace. */
  spawn(cmd: string, args: string[]): ChildProcess;
  remove(): void;
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });

/** Whether namespaces can be made here (root and iproute2). */
export function canMakeHosts(): boolean {
  try {
    return process.getuid?.() === 0 && execFileSync('ip', ['netns', 'list'], { stdio: 'pipe' }) !== undefined;
  } catch {
    return false;
  }
}

export function makeTestHost(tag: string): TestHost {
  const id = randomBytes(2);
  const name = `tg_${tag}_${process.pid}_${id.toString('hex')}`.slice(0, 30);
  const dev = `tg${id.toString('hex')}${process.pid % 1000}`.slice(0, 12);
  // 10.<200-249>.<0-255>.<4k>/30: a small random block, .1 here and .2 in the namespace.
  const b = 200 + (id[0]! % 50);
  const c = id[1]!;
  const d = (process.pid % 63) * 4;
  const localAddress = `10.${b}.${c}.${d + 1}`;
  const address = `10.${b}.${c}.${d + 2}`;
  ip('netns', 'add', name);
  try {
    ip('link', 'add', `${dev}a`, 'type', 'veth', 'peer', 'name', `${dev}b`);
    ip('link', 'set', `${dev}b`, 'netns', name);
    ip('addr', 'add', `${localAddress}/30`, 'dev', `${dev}a`);
    ip('link', 'set', `${dev}a`, 'up');
    ip('netns', 'exec', name, 'ip', 'addr', 'add', `${address}/30`, 'dev', `${dev}b`);
    ip('netns', 'exec', name, 'ip', 'link', 'set', `${dev}b`, 'up');
    ip('netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up');
  } catch (err) {
    try { ip('netns', 'del', name); } catch { /* best effort */ }
    try { ip('link', 'del', `${dev}a`); } catch { /* gone with the namespace */ }
    throw err;
  }
  const children: ChildProcess[] = [];
  return {
    name,
    localAddress,
    address,
    spawn(cmd, args) {
      const child = spawn('ip', ['netns', 'exec', name, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      return child;
    },
    remove() {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
      try { ip('netns', 'del', name); } catch { /* already gone */ }
      try { ip('link', 'del', `${dev}a`); } catch { /* deleted with the namespace */ }
    },
  };
}
