// Whether an answer is still exactly what its author first wrote, asked of the one source that records
// edits exactly: GraphQL's `lastEditedAt` (null until the first edit). The REST `updated_at` has whole
// seconds, so a `/tollgate deny` rewritten to `approve` within the same second looks unedited there.
import type { AnswerSource } from './answers.js';
import type { GithubClient, RequestOptions } from './github-client.js';

export type Unedited = 'intact' | 'edited' | 'gone';

const QUERY = `query($id: ID!) {
  node(id: $id) {
    __typename
    ... on IssueComment { lastEditedAt body }
    ... on PullRequestReview { lastEditedAt body state }
  }
}`;

interface Node {
  __typename?: string;
  lastEditedAt?: string | null;
  body?: string | null;
  state?: string;
}

/** Throws GithubApiError when GitHub cannot tell now (then the answer waits for the next look). */
export async function confirmUnedited(client: GithubClient, a: AnswerSource, opts: RequestOptions): Promise<Unedited> {
  // Without a node id there is no exact source to ask: not taken as unedited.
  if (!a.nodeId) return 'edited';
  const data = await client.graphql<{ node: Node | null }>(QUERY, { id: a.nodeId }, opts);
  const n = data.node;
  if (!n) return 'gone';
  const kind = a.source === 'review' ? 'PullRequestReview' : 'IssueComment';
  if (n.__typename !== kind) return 'gone';
  if (n.lastEditedAt !== null && n.lastEditedAt !== undefined) return 'edited';
  if ((n.body ?? '') !== (a.body ?? '')) return 'edited';
  if (a.source === 'review' && n.state !== a.reviewState) return 'edited';
  return 'intact';
}
