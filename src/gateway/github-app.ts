// The gateway's GitHub App: its installation token per repository (Octokit's app auth: JWT signing
// and token caching are the library's, not ours), and the few calls approvals need: create and
// complete a check run with Approve/Deny buttons, a collaborator's permission, team membership, and
// a pull request's head and author (read by the gateway itself, never taken from the job).
import { createAppAuth } from '@octokit/auth-app';
import { Octokit } from '@octokit/rest';
import { hasWriteAccess } from '../approval/answers.js';

export interface AppConfig {
  apiUrl: string;
  appId: string;
  privateKey: string;
}

/** Labels ≤ 20, identifiers ≤ 20, descriptions ≤ 40 characters (GitHub's limits). */
export const BUTTONS = [
  { label: 'Approve', identifier: 'approve', description: 'Run this statement once' },
  { label: 'Deny', identifier: 'deny', description: 'Refuse this statement' },
] as const;

export class GithubApp {
  private readonly app: Octokit;
  private readonly installations = new Map<string, Promise<Octokit>>();

  constructor(private readonly config: AppConfig) {
    this.app = new Octokit({ baseUrl: config.apiUrl, authStrategy: createAppAuth, auth: { appId: config.appId, privateKey: config.privateKey }, log: quiet });
  }

  /** The installation client for `owner/repo` (cached; a failure is not). */
  installation(repository: string): Promise<Octokit> {
    let p = this.installations.get(repository);
    if (!p) {
      const [owner, repo] = split(repository);
      p = this.app.rest.apps.getRepoInstallation({ owner, repo }).then(
        ({ data }) =>
          new Octokit({
            baseUrl: this.config.apiUrl,
            authStrategy: createAppAuth,
            auth: { appId: this.config.appId, privateKey: this.config.privateKey, installationId: data.id },
            log: quiet,
          }),
      );
      p.catch(() => this.installations.delete(repository));
      this.installations.set(repository, p);
    }
    return p;
  }

  async createCheckRun(repository: string, r: { name: string; headSha: string; externalId: string; title: string; summary: string }): Promise<{ id: number; url: string }> {
    const [owner, repo] = split(repository);
    const kit = await this.installation(repository);
    const { data } = await kit.rest.checks.create({
      owner,
      repo,
      name: r.name,
      head_sha: r.headSha,
      status: 'in_progress',
      external_id: r.externalId,
      output: { title: r.title, summary: r.summary },
      actions: BUTTONS.map((b) => ({ ...b })),
    });
    return { id: data.id, url: data.html_url ?? '' };
  }

  async completeCheckRun(repository: string, id: number, conclusion: 'success' | 'failure' | 'timed_out', title: string, summary: string): Promise<void> {
    const [owner, repo] = split(repository);
    const kit = await this.installation(repository);
    await kit.rest.checks.update({ owner, repo, check_run_id: id, status: 'completed', conclusion, completed_at: new Date().toISOString(), output: { title, summary } });
  }

  async hasWrite(repository: string, login: string): Promise<boolean> {
    const [owner, repo] = split(repository);
    const kit = await this.installation(repository);
    try {
      const { data } = await kit.rest.repos.getCollaboratorPermissionLevel({ owner, repo, username: login });
      return hasWriteAccess(data as { permission?: unknown; role_name?: unknown });
    } catch (err) {
      if ((err as { status?: number }).status === 404) return false;
      throw err;
    }
  }

  async isTeamMember(repository: string, org: string, team: string, login: string): Promise<boolean> {
    const kit = await this.installation(repository);
    try {
      const { data } = await kit.rest.teams.getMembershipForUserInOrg({ org, team_slug: team, username: login });
      return data.state === 'active';
    } catch (err) {
      if ((err as { status?: number }).status === 404) return false;
      throw err;
    }
  }

  async pullRequest(repository: string, number: number): Promise<{ headSha: string; author: string }> {
    const [owner, repo] = split(repository);
    const kit = await this.installation(repository);
    const { data } = await kit.rest.pulls.get({ owner, repo, pull_number: number });
    return { headSha: data.head.sha, author: data.user?.login ?? '' };
  }
}

function split(repository: string): [string, string] {
  const m = /^([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)$/.exec(repository);
  if (!m) throw new TypeError(`not a repository name: ${JSON.stringify(repository)}`);
  return [m[1]!, m[2]!];
}

const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
