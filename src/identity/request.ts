// Turns a failed core.getIDToken() into one sentence a workflow author can act on. The runner offers
// a token only when the job has `permissions: id-token: write`, and never to a pull request from a
// fork (nor to Dependabot's runs), so those causes are told apart from a transient failure.

import { readFileSync } from 'node:fs';

type Env = Record<string, string | undefined>;

interface PullRequestEvent {
  pull_request?: { head?: { repo?: { full_name?: string; fork?: boolean } | null }; base?: { repo?: { full_name?: string } } };
}

const PERMISSION = '`permissions: id-token: write`';

/** The fork the pull request comes from, or null when it is not one (or the event cannot be read). */
function forkOf(env: Env, event: unknown): string | null {
  const name = env.GITHUB_EVENT_NAME ?? '';
  if (!name.startsWith('pull_request')) return null;
  let payload = event as PullRequestEvent | undefined;
  if (payload === undefined && env.GITHUB_EVENT_PATH) {
    try {
      payload = JSON.parse(readFileSync(env.GITHUB_EVENT_PATH, 'utf8')) as PullRequestEvent;
    } catch {
      return null;
    }
  }
  const pr = payload?.pull_request;
  if (!pr) return null;
  const head = pr.head?.repo;
  const base = pr.base?.repo?.full_name;
  if (head === null) return 'a deleted fork';
  if (head?.full_name && base && head.full_name !== base) return head.full_name;
  return head?.fork === true ? (head.full_name ?? 'a fork') : null;
}

/** HTTP status in @actions/core's "Failed to get ID Token … Error Code : 403" message, if any. */
function statusOf(error: unknown): number | null {
  const text = error instanceof Error ? error.message : String(error);
  const m = /Error Code\s*:\s*(\d{3})/.exec(text);
  return m ? Number(m[1]) : null;
}

/** A network error code (ECONNREFUSED, ENOTFOUND, …) inside the error, if any. */
function networkCodeOf(error: unknown): string | null {
  const text = error instanceof Error ? error.message : String(error);
  return /\b(E[A-Z]{3,}[A-Z_]*)\b/.exec(text)?.[1] ?? null;
}

/**
 * Why core.getIDToken() failed, as one sentence. `event` is the webhook payload; without it the file
 * at GITHUB_EVENT_PATH is read. Nothing from the error's text is quoted beyond a status or errno code.
 */
export function explainTokenRequestFailure(env: Env, error: unknown, event?: unknown): string {
  const offered = Boolean(env.ACTIONS_ID_TOKEN_REQUEST_URL && env.ACTIONS_ID_TOKEN_REQUEST_TOKEN);
  const fork = forkOf(env, event);
  if (!offered) {
    if (fork) {
      return `This job runs for a pull request from ${fork === 'a deleted fork' ? fork : `the fork ${fork}`}, and GitHub gives no OIDC token to workflows of pull requests from forks, so tollgate cannot start a session; run the database step after the change is merged, or from a branch of this repository.`;
    }
    if ((env.GITHUB_ACTOR ?? '').startsWith('dependabot')) {
      return 'This job was triggered by Dependabot, whose runs get no OIDC token, so tollgate cannot start a session; skip the database step for Dependabot (`if: github.actor != \'dependabot[bot]\'`).';
    }
    if (env.GITHUB_ACTIONS !== 'true') {
      return 'No GitHub Actions OIDC token is available because this is not running in a GitHub Actions job; outside Actions use `tollgate serve` instead of the action.';
    }
    return `The runner offered this job no OIDC token (ACTIONS_ID_TOKEN_REQUEST_URL is not set), which means the job lacks ${PERMISSION}; add it to the job's \`permissions:\` (with \`contents: read\`, \`checks: write\` and \`pull-requests: read\`, as listing permissions turns the others off).`;
  }
  const status = statusOf(error);
  if (status === 401 || status === 403) {
    return `The runner's token service refused the OIDC token request (HTTP ${status})${fork ? ` for this pull request from ${fork}, and pull requests from forks get no token` : `; check that the job has ${PERMISSION}`}.`;
  }
  const text = error instanceof Error ? error.message : String(error);
  if (/do not have ID Token field/.test(text)) {
    return 'The runner\'s token service answered without an OIDC token, so no session was started; rerun the job, and report it to GitHub if it persists.';
  }
  const why = status !== null ? `HTTP ${status}` : (networkCodeOf(error) ?? 'no answer');
  return `Requesting the OIDC token from the runner's token service failed (${why}), so no session was started; this is usually transient: rerun the job.`;
}
