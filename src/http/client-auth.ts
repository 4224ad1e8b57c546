// The job authenticates to an HTTP listener with the session secret: `Authorization: Bearer
// <secret>` (kubectl's token, curl -H) or Basic with user `tollgate` (registry clients, which send
// credentials only after a 401 challenge). Compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';

export type ClientAuth = 'ok' | 'missing' | 'wrong';

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

export function clientAuthenticator(secret: string): (authorization: string | null) => ClientAuth {
  const want = digest(secret);
  const same = (given: string) => timingSafeEqual(digest(given), want);
  return (authorization) => {
    if (authorization === null || authorization.trim() === '') return 'missing';
    const m = /^([A-Za-z]+) +(\S+)\s*$/.exec(authorization);
    if (!m) return 'wrong';
    const scheme = m[1]!.toLowerCase();
    if (scheme === 'bearer') return same(m[2]!) ? 'ok' : 'wrong';
    if (scheme === 'basic') {
      const text = Buffer.from(m[2]!, 'base64').toString('utf8');
      const colon = text.indexOf(':');
      if (colon < 0) return 'wrong';
      const ok = same(text.slice(colon + 1));
      return ok && text.slice(0, colon) === 'tollgate' ? 'ok' : 'wrong';
    }
    return 'wrong';
  };
}
