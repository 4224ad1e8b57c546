// What a reviewer reads on the pull request's checks tab: the check run's name, title and summary
// (Markdown). The statement is already literal-free; everything from outside is put in code spans or
// fences long enough that no backtick in it can close them.
import type { ReviewRequest } from './types.js';

/** GitHub caps output.summary at 65535 characters. */
const SUMMARY_LIMIT = 65_000;
const STATEMENT_LIMIT = 20_000;
const REFUSALS_SHOWN = 30;

export function checkRunName(req: ReviewRequest): string {
  const name = req.object ? `tollgate: approve ${req.kind} on ${req.object}` : `tollgate: approve ${req.kind}`;
  return flat(name).slice(0, 200);
}

export interface Refusal {
  login: string;
  reason: string;
  url: string;
}

export interface SummaryInput {
  req: ReviewRequest;
  actor: string;
  repository: string;
  runUrl?: string;
  approvers: readonly string[];
  deadline: Date;
  refusals: readonly Refusal[];
  /** Markdown line stating the outcome, on completion. */
  outcome?: string;
}

export function checkRunSummary(s: SummaryInput): string {
  const { req } = s;
  const id = req.id;
  const claim = (k: string): string | undefined => {
    const v = req.identity[k];
    return typeof v === 'string' || typeof v === 'number' ? String(v) : undefined;
  };
  const runId = claim('run_id');
  const run = runId && s.runUrl ? `[${code(runId)}](${s.runUrl})` : runId ? code(runId) : s.runUrl ? `[run](${s.runUrl})` : '—';
  const who = s.approvers.length
    ? `a human with write access to the repository who is listed in the role's approvers (${s.approvers.map(code).join(', ')}), other than the job's actor ${code(s.actor)}`
    : `a human with write access to the repository other than the job's actor ${code(s.actor)}`;

  const parts: string[] = [];
  if (s.outcome) parts.push(s.outcome, '');
  parts.push(
    `tollgate holds a ${code(req.kind)} statement${req.object ? ` on ${code(req.object)}` : ''} until a permitted reviewer answers.`,
    '',
    '**Statement** (literals replaced by placeholders):',
    '',
    fence(req.statement.length > STATEMENT_LIMIT ? `${req.statement.slice(0, STATEMENT_LIMIT)}\n… (truncated)` : req.statement, 'sql'),
    '',
    '| | |',
    '| --- | --- |',
    `| Repository | ${cell(claim('repository') ?? s.repository)} |`,
    `| Workflow | ${cell(claim('workflow'))} |`,
    `| Run | ${run} |`,
    `| Actor | ${cell(claim('actor') ?? s.actor)} |`,
    `| Ref | ${cell(claim('ref'))} |`,
    `| Rule | ${cell(req.rule ?? undefined)} |`,
    `| Reason | ${cell(req.reason)} |`,
    `| Request id | ${code(id)} |`,
    `| Answer by | ${s.deadline.toISOString()} |`,
    '',
    '**How to answer:** comment on this pull request with exactly one of',
    '',
    fence(`/tollgate approve ${id}`),
    fence(`/tollgate deny ${id}`),
    '',
    `The answer counts only from ${who}, on a new comment that is never edited. Without an answer by the time above the statement is denied.`,
  );
  if (s.refusals.length) {
    parts.push('', `**Refused answers** (${s.refusals.length}):`, '');
    const shown = s.refusals.slice(-REFUSALS_SHOWN);
    if (shown.length < s.refusals.length) parts.push(`- … ${s.refusals.length - shown.length} earlier refusals not shown`);
    for (const r of shown) parts.push(`- ${code(r.login)}: ${flat(r.reason)} ([comment](${r.url}))`);
  }
  const text = parts.join('\n');
  return text.length > SUMMARY_LIMIT ? `${text.slice(0, SUMMARY_LIMIT)}\n… (truncated)` : text;
}

/** A code span that no backtick inside can close (CommonMark: a longer run of backticks as the delimiter). */
export function code(text: string): string {
  const s = flat(text);
  const run = '`'.repeat(longestRun(s) + 1);
  const pad = s.startsWith('`') || s.endsWith('`') ? ' ' : '';
  return `${run}${pad}${s}${pad}${run}`;
}

/** A fenced block whose fence is longer than any backtick run in the text. */
export function fence(text: string, lang = ''): string {
  const f = '`'.repeat(Math.max(3, longestRun(text) + 1));
  return `${f}${lang}\n${text}\n${f}`;
}

function cell(text: string | undefined): string {
  return text === undefined || text === '' ? '—' : code(text).replace(/\|/g, '\\|');
}

function longestRun(s: string): number {
  let max = 0;
  for (const m of s.matchAll(/`+/g)) max = Math.max(max, m[0].length);
  return max;
}

function flat(s: string): string {
  return s.replace(/[\r\n\t]+/g, ' ');
}
