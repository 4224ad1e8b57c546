// Which copy of the policy judges the job. On `pull_request` and `pull_request_target` the workspace
// holds the pull request's own files, so a policy read from there would be the pull request's edit
// (a `review` rule dropped, a friend added to `approvers`). There the policy is read as it is on the
// pull request's base commit, through the contents API with the job's token. Reading the workspace copy
// instead is an opt-in written in that base policy (`pull_requests: { policy: workspace }`), never
// an action input: the pull request controls the workflow's inputs no more than its policy, but a
// same-repository pull request can edit the workflow file itself.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { GithubApiError, GithubClient } from '../approval/github-client.js';
import { parsePolicy } from '../policy/load.js';
import { ConfigurationError } from './errors.js';
import { readPullRequest } from './event.js';

export interface PolicySource {
  /** The file the proxy loads. */
  path: string;
  /** Said in the job summary and the log. */
  description: string;
  /** SHA-256 of the policy's bytes. */
  sha256: string;
  /** How messages name the policy when `path` is a private copy. */
  display?: string;
}

export interface PolicySourceOptions {
  env: NodeJS.ProcessEnv;
  workspace: string;
  /** The `policy` input. */
  input: string;
  token: string;
  /** Where a policy fetched from the base commit is written (the action's private directory). */
  dir: string;
  fetch?: (input: string, init: RequestInit) => Promise<Response>;
}

const PR_EVENTS = new Set(['pull_request', 'pull_request_target']);

export async function choosePolicy(o: PolicySourceOptions): Promise<PolicySource> {
  const workspacePath = resolve(o.workspace, o.input);
  const event = o.env.GITHUB_EVENT_NAME ?? '';
  if (!PR_EVENTS.has(event)) return fromWorkspace(workspacePath, o.input, 'the workspace copy');

  const rel = relative(o.workspace, workspacePath);
  if (!rel || rel.startsWith('..') || isAbsolute(rel)) {
    throw new ConfigurationError(`Input \`policy\` must be a path inside the repository on a ${event} event (got "${o.input}"): the policy is read from the pull request's base commit, not from the runner.`);
  }
  const repoPath = rel.split(sep).join('/');
  const pr = readPullRequest(o.env.GITHUB_EVENT_PATH);
  const repository = o.env.GITHUB_REPOSITORY ?? '';
  if (!pr || !/^[^/\s]+\/[^/\s]+$/.test(repository)) {
    throw new ConfigurationError(`This ${event} job has no pull request number or repository, so the policy cannot be read from the pull request's base commit; tollgate will not fall back to the pull request's own copy.`);
  }
  if (!o.token) {
    throw new ConfigurationError(`Input \`github-token\` is empty: on a ${event} event the policy is read from the base commit through the GitHub API (the job needs \`contents: read\` and \`pull-requests: read\`).`);
  }
  const client = new GithubClient({ apiUrl: (o.env.GITHUB_API_URL ?? 'https://api.github.com').replace(/\/+$/, ''), token: o.token, fetch: o.fetch });
  const [owner, name] = repository.split('/') as [string, string];
  const repo = `repos/${encodeURIComponent(owner)}/${encodeURIComponent(name)}`;
  const deadline = Date.now() + 60_000;

  let base: string;
  try {
    const pull = (await client.request<{ base?: { sha?: unknown } }>('GET', `${repo}/pulls/${pr.number}`, { deadline })).data;
    base = typeof pull?.base?.sha === 'string' && /^[0-9a-f]{40}$/.test(pull.base.sha) ? pull.base.sha : '';
  } catch (err) {
    throw new ConfigurationError(`Could not read pull request #${pr.number} to find its base commit (${apiMessage(err)}); the job needs \`pull-requests: read\`.`);
  }
  if (!base) throw new ConfigurationError(`Pull request #${pr.number} has no base commit in the API's answer; the policy cannot be read from it.`);

  let text: string;
  try {
    const file = (await client.request<{ type?: unknown; encoding?: unknown; content?: unknown }>(
      'GET', `${repo}/contents/${repoPath.split('/').map(encodeURIComponent).join('/')}`, { query: { ref: base }, deadline })).data;
    if (file?.type !== 'file' || file.encoding !== 'base64' || typeof file.content !== 'string') {
      throw new ConfigurationError(`The policy ${repoPath} on the base commit ${base} is not a file the contents API returns whole (larger than 1 MB, or a directory or link).`);
    }
    text = Buffer.from(file.content, 'base64').toString('utf8');
  } catch (err) {
    if (err instanceof ConfigurationError) throw err;
    if (err instanceof GithubApiError && err.status === 404) {
      throw new ConfigurationError(`The policy file ${repoPath} does not exist on the pull request's base commit ${base}. A pull request cannot bring its own policy: merge the policy into the base branch first.`);
    }
    throw new ConfigurationError(`Could not read the policy ${repoPath} from the base commit ${base} (${apiMessage(err)}); the job needs \`contents: read\`.`);
  }

  let optIn: unknown;
  try {
    optIn = (parsePolicy(text, `${repoPath} (base commit ${base.slice(0, 12)})`).document as { pull_requests?: { policy?: unknown } }).pull_requests?.policy;
  } catch (err) {
    throw new ConfigurationError(`The policy file could not be used: ${(err as Error).message}`);
  }
  if (optIn === 'workspace') {
    return fromWorkspace(workspacePath, o.input, `the workspace copy (the base commit ${base}'s policy opts in with \`pull_requests.policy: workspace\`)`);
  }
  const path = join(o.dir, 'policy-base.yml');
  writeFileSync(path, text, { mode: 0o600 });
  return {
    path, description: `\`${repoPath}\` as on the pull request's base commit ${base} (the pull request's own copy is not used)`,
    sha256: sha256(text), display: `${repoPath} (base commit ${base.slice(0, 12)})`,
  };
}

function fromWorkspace(path: string, input: string, what: string): PolicySource {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch {
    // loadPolicy reports a missing or unreadable file with its own words.
    return { path, description: `\`${input}\`, ${what}`, sha256: '(unreadable)' };
  }
  return { path, description: `\`${input}\`, ${what}`, sha256: sha256(bytes) };
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function apiMessage(err: unknown): string {
  return err instanceof GithubApiError ? err.message : 'no answer';
}
