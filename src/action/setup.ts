// `main`: OIDC token → verified claims → policy role → session → proxy daemon → PG* for later steps.
// Actions glue only: identity, policy and the proxy are their own modules.
import * as core from '@actions/core';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { claimedActorId } from '../approval/accounts.js';
import { verifyOidcToken } from '../identity/oidc.js';
import { explainTokenRequestFailure } from '../identity/request.js';
import { newSession } from '../identity/session.js';
import type { ProxyConfig } from '../daemon/config.js';
import { ConfigurationError, debugDetail, safeMessage } from './errors.js';
import { approvalFromEvent } from './event.js';
import { readInputs, upstreamDatabase } from './inputs.js';
import { exportHttp, httpSetup, parseHttpListeners } from './http-glue.js';
import { exportGateway, setOutputs, STATE } from './outputs.js';
import { readLog, startDaemon } from './daemon.js';
import { upstreamSecrets } from './secrets.js';
import { policyDefaults, roleFor } from './policy-glue.js';
import { choosePolicy } from './policy-source.js';

const DAEMON_START_TIMEOUT_MS = 30_000;

export async function run(): Promise<void> {
  // Everything secret we learn goes here first, so even an unexpected error message cannot show it.
  const redact: string[] = [];
  try {
    const inputs = readInputs();
    maskUpstream(inputs.upstream, redact);

    let token: string;
    try {
      token = await core.getIDToken(inputs.audience);
    } catch (err) {
      throw new ConfigurationError(explainTokenRequestFailure(process.env, err));
    }
    redact.push(token);
    const claims = await verifyOidcToken(token, { issuer: inputs.oidcIssuer, audience: inputs.audience });

    const workspace = process.env.GITHUB_WORKSPACE || process.cwd();
    const dir = privateDir();
    // On a pull request: the base commit's policy, never the pull request's own edit of it.
    const source = await choosePolicy({ env: process.env, workspace, input: inputs.policy, token: inputs.githubToken, dir });
    const policyPath = source.path;
    core.info(`tollgate: policy: ${source.description}, sha256 ${source.sha256}.`);
    if (process.env.GITHUB_STEP_SUMMARY) {
      await core.summary.addRaw(`**tollgate policy:** ${source.description}, sha256 \`${source.sha256}\`.\n`, true).write();
    }
    const { policy, role } = roleFor(policyPath, claims as Record<string, unknown>, inputs.role, source.display);
    const defaults = policyDefaults(policy);

    // The policy's ttl is an upper bound the workflow can shorten, never extend.
    const ttlMs = Math.min(defaults.sessionTtlMs, inputs.sessionTtlMs ?? Infinity);
    const session = newSession(ttlMs);
    core.setSecret(session.secret);
    redact.push(session.secret);
    const maskKey = randomBytes(32).toString('hex');
    core.setSecret(maskKey);
    redact.push(maskKey);

    const approval = approvalFromEvent(process.env, inputs.githubToken, inputs.approvalPollMs, claimedActorId(claims as Record<string, unknown>));
    if (approval.kind === 'none') core.info(`tollgate: statements that need review will be denied: ${approval.reason}.`);
    else if (approval.kind === 'github') core.notice(`tollgate: statements that need review wait for approval on ${checksUrl(approval.repository, approval.pullNumber)} (one check run each); a reviewer answers with a pull request comment "/tollgate approve <id>" or "/tollgate deny <id>".`);

    const auditPath = join(dir, `audit-${session.id}.jsonl`);
    const logPath = join(dir, 'proxy.log');
    const http = httpSetup(policy, role, process.env, redact);
    const config: ProxyConfig = {
      listen: inputs.listen,
      upstream: inputs.upstream,
      policyPath,
      role,
      claims: claims as Record<string, unknown>,
      session: { id: session.id, secret: session.secret, expiresAt: session.expiresAt },
      auditPath,
      approvalTimeoutMs: inputs.approvalTimeoutMs ?? defaults.approvalTimeoutMs,
      approval,
      maskKey,
      ...(http ? { http } : {}),
    };

    const started = await startDaemon({ cliPath: cliPath(), config, logPath, timeoutMs: DAEMON_START_TIMEOUT_MS, redact });
    // Saved at once: whatever fails after this, post must find and stop the daemon.
    core.saveState(STATE.pid, String(started.pid));
    core.saveState(STATE.auditPath, auditPath);
    core.saveState(STATE.logPath, logPath);
    core.saveState(STATE.sessionId, session.id);
    core.saveState(STATE.role, role);
    core.saveState(STATE.listen, `${started.host}:${started.port}`);

    exportHttp(policy, role, parseHttpListeners(readLog(logPath)), session.secret, dir, http?.tls ?? {});
    const databaseUrl = exportGateway({ host: started.host, port: started.port, database: upstreamDatabase(inputs.upstream), secret: session.secret });
    setOutputs({ sessionId: session.id, role, expiresAt: session.expiresAt, databaseUrl });
    core.info(`tollgate: session ${session.id} as role "${role}" until ${session.expiresAt.toISOString()}; proxy listening on ${started.host}:${started.port} (pid ${started.pid}).`);
    core.info('tollgate: later steps reach the database through the gateway with PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE or DATABASE_URL.');
  } catch (err) {
    core.debug(debugDetail(err, redact));
    core.setFailed(safeMessage(err, redact));
  }
}

/** The upstream URL and its password are secrets even if the workflow forgot to pass a secret. */
function maskUpstream(upstream: string, redact: string[]): void {
  for (const s of upstreamSecrets(upstream)) {
    core.setSecret(s);
    redact.push(s);
  }
}

/** A directory only the runner user can read, for the audit log and the daemon's output. */
function privateDir(): string {
  const base = process.env.RUNNER_TEMP || tmpdir();
  const dir = mkdtempSync(join(base, 'tollgate-'));
  chmodSync(dir, 0o700);
  return dir;
}

function checksUrl(repository: string, pullNumber: number): string {
  return `${(process.env.GITHUB_SERVER_URL || 'https://github.com').replace(/\/+$/, '')}/${repository}/pull/${pullNumber}/checks`;
}

/** dist/cli.js, next to this bundle (dist/main.js). */
function cliPath(): string {
  return join(dirname(fileURLToPath(import.meta.url)), 'cli.js');
}
