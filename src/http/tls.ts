// A certificate for a listener that must speak TLS on loopback: kubectl (client-go) sends a
// kubeconfig's token only over TLS, so a Kubernetes listener serves HTTPS with a key made for this
// session, and the kubeconfig the action writes trusts exactly that certificate (no CA is installed
// anywhere). Made with the openssl command every runner image has; an EC P-256 key, valid one day,
// for 127.0.0.1, ::1 and localhost.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ListenerTls {
  /** PEM certificate (also what clients trust). */
  cert: string;
  /** PEM private key. Never logged. */
  key: string;
}

export function selfSignedCertificate(): ListenerTls {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-tls-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', '/CN=tollgate session listener',
      '-addext', 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
    return { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') };
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    const why = e.code === 'ENOENT' ? 'the openssl command is not installed' : (e.stderr?.toString().trim().split('\n')[0] ?? e.message);
    throw new Error(`cannot make the TLS certificate for a Kubernetes listener: ${why}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
