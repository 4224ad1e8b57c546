// What later steps see: PG* variables and DATABASE_URL pointing at the gateway, and the step's
// outputs. The real upstream never appears here.
import * as core from '@actions/core';

export interface GatewayEndpoint {
  host: string;
  port: number;
  database: string;
  secret: string;
}

export const GATEWAY_USER = 'tollgate';

/** The address a client on the runner dials: a wildcard listen address is reached on loopback. */
export function clientHost(listenHost: string): string {
  if (listenHost === '0.0.0.0' || listenHost === '') return '127.0.0.1';
  if (listenHost === '::') return '::1';
  return listenHost;
}

export function gatewayUrl(e: GatewayEndpoint): string {
  const host = clientHost(e.host);
  const h = host.includes(':') ? `[${host}]` : host;
  // The gateway speaks plain TCP on the runner's loopback; sslmode=disable keeps libpq from trying TLS first.
  return `postgres://${GATEWAY_USER}:${encodeURIComponent(e.secret)}@${h}:${e.port}/${encodeURIComponent(e.database)}?sslmode=disable`;
}

export function exportGateway(e: GatewayEndpoint): string {
  const url = gatewayUrl(e);
  // Registered before any of it is written anywhere: the runner masks these in every later log line.
  core.setSecret(e.secret);
  if (encodeURIComponent(e.secret) !== e.secret) core.setSecret(encodeURIComponent(e.secret));
  core.exportVariable('PGHOST', clientHost(e.host));
  core.exportVariable('PGPORT', String(e.port));
  core.exportVariable('PGUSER', GATEWAY_USER);
  core.exportVariable('PGPASSWORD', e.secret);
  core.exportVariable('PGDATABASE', e.database);
  core.exportVariable('PGSSLMODE', 'disable');
  // The gateway parses UTF8 only and refuses other client encodings; libpq derives the encoding from
  // the locale, and under LANG=C that would be SQL_ASCII.
  core.exportVariable('PGCLIENTENCODING', 'UTF8');
  core.exportVariable('DATABASE_URL', url);
  return url;
}

export function setOutputs(o: { sessionId: string; role: string; expiresAt: Date; databaseUrl: string }): void {
  core.setOutput('session-id', o.sessionId);
  core.setOutput('role', o.role);
  core.setOutput('expires-at', o.expiresAt.toISOString());
  core.setOutput('database-url', o.databaseUrl);
}

/** Names saved with core.saveState for `post`. */
export const STATE = {
  pid: 'tollgate_pid',
  auditPath: 'tollgate_audit_path',
  logPath: 'tollgate_log_path',
  sessionId: 'tollgate_session_id',
  role: 'tollgate_role',
  listen: 'tollgate_listen',
} as const;
