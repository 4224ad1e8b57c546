// Forwards a client's cancel to the upstream backend that runs its query: a fresh connection
// (TLS exactly as the session's `sslmode` says) carrying only a CancelRequest. The server answers
// nothing and closes the connection; we wait for that close so the caller knows it was delivered.

import { cancelRequest } from './protocol.js';
import { UpstreamError, describeTarget, openTransport, parseUpstreamUrl, withDeadline } from './upstream.js';

const DEFAULT_CANCEL_TIMEOUT_MS = 5_000;

/** Sends CancelRequest for `backendKey` to the upstream in `url`. Rejects with UpstreamError. */
export async function sendCancel(
  url: string,
  backendKey: { pid: number; secret: Buffer },
  timeoutMs: number = DEFAULT_CANCEL_TIMEOUT_MS,
): Promise<void> {
  const t = parseUpstreamUrl(url);
  const where = `cancel on upstream ${describeTarget(t)}`;
  await withDeadline(timeoutMs, where, async (track) => {
    const { reader } = await openTransport(t, track);
    const socket = reader.socket;
    reader.detach(false);
    await new Promise<void>((resolve, reject) => {
      let written = false;
      let failure: Error | null = null;
      socket.on('error', (err) => (failure ??= err));
      // The server closes the connection once it has read the request: a close after our bytes
      // were written means delivered; a close before (refused, reset) is a failure.
      socket.once('close', () => {
        if (written) resolve();
        else reject(new UpstreamError('ERR_UPSTREAM_CONNECT', `${where}: ${failure?.message ?? 'connection closed before the request was sent'}`));
      });
      socket.write(cancelRequest(backendKey.pid, backendKey.secret), (err) => {
        if (!err) written = true;
      });
    });
  });
}
