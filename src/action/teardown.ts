// `post` (runs even when the job failed): stop the proxy, check that it lived through the job,
// verify the audit chain, write the job summary, upload the log.
import * as core from '@actions/core';
import { existsSync } from 'node:fs';
import { verifyAuditFile } from '../audit/verify.js';
import { renderSummary } from '../audit/summary.js';
import { debugDetail, safeMessage } from './errors.js';
import { isAlive, readLog, stopDaemon, tail } from './daemon.js';
import { uploadAuditLog } from './artifact.js';
import { readAuditLines } from './audit-lines.js';
import { STATE } from './outputs.js';
import { untrustedBlock } from './log-text.js';
import { knownSecrets } from './secrets.js';

const STOP_GRACE_MS = 10_000;

export async function runPost(): Promise<void> {
  const failures: string[] = [];
  try {
    const pid = Number(core.getState(STATE.pid));
    if (!Number.isInteger(pid) || pid <= 0) {
      core.info('tollgate: no proxy was started in this job (main did not finish), nothing to stop.');
      return;
    }
    const auditPath = core.getState(STATE.auditPath);
    const logPath = core.getState(STATE.logPath);
    const sessionId = core.getState(STATE.sessionId);
    const secrets = knownSecrets({ upstream: core.getInput('upstream'), githubToken: core.getInput('github-token'), sessionSecret: process.env.PGPASSWORD ?? '' });
    // (the session secret reaches post as the PGPASSWORD main exported; it is never kept in state)

    // Checked before we stop it: a proxy that is gone now died during the job.
    if (!isAlive(pid)) {
      failures.push(`The tollgate proxy (pid ${pid}) stopped during the job: steps after that could not reach the database, and statements it had not recorded are unaccounted for. Its last output:\n${tail(readLog(logPath), secrets)}`);
    } else {
      const how = await stopDaemon(pid, STOP_GRACE_MS);
      if (how === 'killed') core.warning(`tollgate: the proxy did not stop within ${STOP_GRACE_MS / 1000}s of SIGTERM and was killed.`);
      else core.info('tollgate: proxy stopped.');
    }

    // The detached proxy cannot write to the job log (main's pipe is gone): its own lines —
    // approval requests with their check run URLs, refused answers — are shown here.
    // Its lines quote outsiders (a client's startup, a commenter's login): printed as data only.
    const daemonLog = readLog(logPath).trimEnd();
    if (daemonLog) for (const line of untrustedBlock('tollgate proxy log', daemonLog, secrets)) process.stdout.write(`${line}\n`);

    if (!existsSync(auditPath)) {
      failures.push(`The audit log ${auditPath} is missing: the session's statements cannot be accounted for.`);
    } else {
      const verdict = await verifyAuditFile(auditPath);
      if (!verdict.ok) failures.push(`The audit log's hash chain is broken at line ${verdict.line}: ${verdict.reason}. The log cannot be trusted.`);
      // The head hash in the job log (kept by GitHub, outside the runner) anchors the chain: a log
      // later cut short or rewritten whole no longer ends in this hash.
      else core.info(`tollgate: audit chain verified (${verdict.count} records, head ${verdict.head}).`);

      const upload = await uploadAuditLog(auditPath, `tollgate-audit-${sessionId}`);
      if (upload.uploaded) core.info(`tollgate: audit log uploaded as artifact "${upload.name}".`);
      else core.notice(`tollgate: audit log not uploaded: ${upload.reason}. It is at ${auditPath} until the job ends.`);

      const markdown = renderSummary(readAuditLines(auditPath), {
        sessionId,
        role: core.getState(STATE.role),
        verified: verdict.ok,
        ...(upload.uploaded ? { artifact: upload.name } : {}),
      });
      if (process.env.GITHUB_STEP_SUMMARY) await core.summary.addRaw(markdown, true).write();
    }
  } catch (err) {
    core.debug(debugDetail(err));
    failures.push(safeMessage(err));
  }
  if (failures.length > 0) core.setFailed(failures.join('\n'));
}
