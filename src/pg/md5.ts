// PostgreSQL's MD5 password response (AuthenticationMD5Password): "md5" + md5(md5(password + user) + salt).
// Kept only because servers may still ask for it; SCRAM is preferred whenever the server offers it.

import { createHash } from 'node:crypto';

function md5Hex(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}

/** The PasswordMessage payload (without the trailing NUL) for an MD5 challenge with a 4-byte salt. */
export function md5PasswordResponse(user: string, password: string, salt: Buffer): string {
  if (salt.length !== 4) throw new TypeError(`MD5 salt must be 4 bytes, got ${salt.length}`);
  const inner = md5Hex(Buffer.from(password + user, 'utf8'));
  return 'md5' + md5Hex(Buffer.concat([Buffer.from(inner, 'latin1'), salt]));
}
