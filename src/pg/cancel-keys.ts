// The cancel keys the proxy hands its clients (BackendKeyData) and the upstream backend each one
// stands for. A client never learns the upstream's key; a CancelRequest with a proxy key is
// forwarded as a CancelRequest with the upstream's.

import { randomBytes, timingSafeEqual } from 'node:crypto';

/** Proxy-issued cancel keys → the upstream backend that runs the client's queries. */
export class CancelKeys {
  private readonly byPid = new Map<number, { secret: Buffer; upstream: { pid: number; secret: Buffer } }>();

  issue(upstream: { pid: number; secret: Buffer }): { pid: number; secret: Buffer } {
    let pid: number;
    do pid = randomBytes(4).readUInt32BE(0) & 0x7fffffff;
    while (pid === 0 || this.byPid.has(pid));
    const secret = randomBytes(4);
    this.byPid.set(pid, { secret, upstream });
    return { pid, secret };
  }

  lookup(pid: number, secret: Buffer): { pid: number; secret: Buffer } | null {
    const e = this.byPid.get(pid);
    if (!e || e.secret.length !== secret.length || !timingSafeEqual(e.secret, secret)) return null;
    return e.upstream;
  }

  release(pid: number): void {
    this.byPid.delete(pid);
  }
}
