// The HTTP side of `main`: the credentials of the role's HTTP upstreams (read from the step's
// environment, masked, handed to the daemon on its stdin with the rest of its configuration), and,
// once the daemon listens, what later steps need to use its listeners unchanged: TOLLGATE_<NAME>_URL
// for every upstream, a kubeconfig (KUBECONFIG) for Kubernetes ones, and a registry auth file
// (REGISTRY_AUTH_FILE for skopeo/buildah/podman, DOCKER_CONFIG for docker/crane/oras) for registries.
import * as core from '@actions/core';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { resolveCredentials } from '../http/listen.js';
import { selfSignedCertificate, type ListenerTls } from '../http/tls.js';
import type { UpstreamCredentials } from '../http/upstream.js';
import type { Policy } from '../policy/compile.js';
import { ConfigurationError } from './errors.js';

/** What the daemon needs for the role's HTTP upstreams, or null when it has none. */
export function httpSetup(policy: Policy, role: string, env: NodeJS.ProcessEnv, redact: string[]): { credentials: Record<string, UpstreamCredentials>; tls: Record<string, ListenerTls> } | null {
  const upstreams = [...policy.roles.get(role)!.http.upstreams.values()];
  if (upstreams.length === 0) return null;
  const tls: Record<string, ListenerTls> = {};
  for (const u of upstreams) {
    if (u.type !== 'kubernetes') continue;
    try {
      tls[u.name] = selfSignedCertificate();
    } catch (err) {
      throw new ConfigurationError(`${(err as Error).message}.`);
    }
    core.setSecret(tls[u.name]!.key);
    redact.push(tls[u.name]!.key);
  }
  return { credentials: httpCredentials(policy, role, env, redact), tls };
}

export function httpCredentials(policy: Policy, role: string, env: NodeJS.ProcessEnv, redact: string[]): Record<string, UpstreamCredentials> {
  const out: Record<string, UpstreamCredentials> = {};
  for (const u of policy.roles.get(role)!.http.upstreams.values()) {
    try {
      out[u.name] = resolveCredentials(u, env);
    } catch (err) {
      throw new ConfigurationError(`${(err as Error).message}: pass it to the tollgate step with \`env:\` (from a secret).`);
    }
    for (const s of [out[u.name]!.bearer, out[u.name]!.basic?.password, out[u.name]!.key]) {
      if (s) {
        core.setSecret(s);
        redact.push(s);
      }
    }
  }
  return out;
}

export interface HttpListenerLine {
  name: string;
  host: string;
  port: number;
}

/** The `tollgate: http <name> listening on <host:port>` lines of the daemon's output. */
export function parseHttpListeners(log: string): HttpListenerLine[] {
  return [...log.matchAll(/^tollgate: http (\S+) listening on (.+):(\d+)\s*$/gm)].map((m) => ({
    name: m[1]!, host: m[2]!.replace(/^\[(.*)\]$/, '$1'), port: Number(m[3]),
  }));
}

export const envName = (upstream: string) => `TOLLGATE_${upstream.toUpperCase().replace(/-/g, '_')}_URL`;

export function exportHttp(policy: Policy, role: string, listeners: readonly HttpListenerLine[], secret: string, dir: string, tls: Readonly<Record<string, ListenerTls>>): void {
  if (listeners.length === 0) return;
  const upstreams = policy.roles.get(role)!.http.upstreams;
  const hostPort = (l: HttpListenerLine) => `${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}`;
  const scheme = (l: HttpListenerLine) => (tls[l.name] ? 'https' : 'http');
  for (const l of listeners) {
    core.exportVariable(envName(l.name), `${scheme(l)}://${hostPort(l)}`);
  }
  const kube = listeners.filter((l) => upstreams.get(l.name)?.type === 'kubernetes');
  if (kube.length > 0) {
    const path = join(dir, 'kubeconfig');
    writeFileSync(path, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': kube[0]!.name,
      // kubectl sends a token only over TLS: the listener's certificate, made for this session, is
      // the only one this kubeconfig trusts.
      clusters: kube.map((l) => ({
        name: l.name,
        cluster: { server: `${scheme(l)}://${hostPort(l)}`, ...(tls[l.name] ? { 'certificate-authority-data': Buffer.from(tls[l.name]!.cert).toString('base64') } : {}) },
      })),
      users: [{ name: 'tollgate', user: { token: secret } }],
      contexts: kube.map((l) => ({ name: l.name, context: { cluster: l.name, user: 'tollgate' } })),
    }, null, 2), { mode: 0o600 });
    core.exportVariable('KUBECONFIG', path);
  }
  const registries = listeners.filter((l) => upstreams.get(l.name)?.type === 'registry');
  if (registries.length > 0) {
    const auth = Buffer.from(`tollgate:${secret}`).toString('base64');
    const auths = Object.fromEntries(registries.map((l) => [hostPort(l), { auth }]));
    writeFileSync(join(dir, 'registry-auth.json'), JSON.stringify({ auths }, null, 2), { mode: 0o600 });
    core.exportVariable('REGISTRY_AUTH_FILE', join(dir, 'registry-auth.json'));
    // docker's config keeps the logins made before this step (its auths are merged, never dropped).
    const dockerDir = join(dir, 'docker');
    mkdirSync(dockerDir, { recursive: true, mode: 0o700 });
    const before = join(process.env.DOCKER_CONFIG || join(homedir(), '.docker'), 'config.json');
    let config: { auths?: Record<string, unknown> } = {};
    try {
      if (existsSync(before)) config = JSON.parse(readFileSync(before, 'utf8')) as typeof config;
    } catch {
      config = {};
    }
    config.auths = { ...(config.auths ?? {}), ...auths };
    writeFileSync(join(dockerDir, 'config.json'), JSON.stringify(config, null, 2), { mode: 0o600 });
    core.exportVariable('DOCKER_CONFIG', dockerDir);
  }
}
