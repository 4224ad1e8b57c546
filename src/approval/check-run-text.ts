// What a reviewer reads on the pull request's checks tab: the check run's name, title and summary
// (Markdown). The statement is already literal-free; everything from outside is put in code spans or
// fences long enough that no backtick in it can close them (so no outsider text becomes a link, a
// mention or markup). The statement is shown whole and visibly (statement-view.ts) or not at all:
// one that cannot be shown whole cannot be approved from the check run.
// Pure text, no I/O: the gateway's App check runs use the same.
import { hidesBody, viewStatement } from './statement-view.js';
import type { ReviewRequest } from './types.js';

/** GitHub caps output.summary at 65535 characters; what is not the statement fits in the rest. */
const SUMMARY_LIMIT = 65_535;
export const STATEMENT_LIMIT = 50_000;
const REFUSALS_SHOWN = 30;

export type Showable = { ok: true; text: string } | { ok: false; why: string };

/** The statement as the check run shows it, or why it cannot be shown whole (then it is not approvable there). */
export function showableStatement(statement: string, scrub: (text: string) => string = (t) => t): Showable {
  const clean = scrub(statement);
  if (hidesBody(clean)) {
    return { ok: false, why: 'the body of this function, procedure or DO block reached tollgate only as a placeholder, so the code that would run cannot be shown here' };
  }
  const view = viewStatement(clean);
  if (view.length > STATEMENT_LIMIT) {
    return { ok: false, why: `the statement is ${view.length} characters long as shown, more than the ${STATEMENT_LIMIT} a check run can show whole` };
  }
  return { ok: true, text: view.text };
}

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
  /** The secret scrubber of the audit log: applied to everything shown. */
  scrub?: (text: string) => string;
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
    ...statementSection(showableStatement(req.statement, s.scrub), req.sessionId),
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
    `The answer counts only from ${who}, on a new comment that is never edited, or as an approving pull request review whose whole text is the approve line. Without an answer by the time above the statement is denied.`,
  );
  if (s.refusals.length) {
    parts.push('', `**Refused answers** (${s.refusals.length}):`, '');
    const shown = s.refusals.slice(-REFUSALS_SHOWN);
    if (shown.length < s.refusals.length) parts.push(`- … ${s.refusals.length - shown.length} earlier refusals not shown`);
    // The reason quotes outsiders (a request id someone typed, an API message): a code span, never links.
    for (const r of shown) parts.push(`- ${code(r.login)}: ${code(r.reason)} ([answer](${r.url}))`);
  }
  const text = s.scrub ? s.scrub(parts.join('\n')) : parts.join('\n');
  // The statement is bounded by STATEMENT_LIMIT and the refusals by REFUSALS_SHOWN; should the rest
  // still not fit, nothing is cut: the refusals give way, then the check run says it cannot show it.
  if (text.length <= SUMMARY_LIMIT) return text;
  if (s.refusals.length) return checkRunSummary({ ...s, refusals: [] });
  return 'tollgate cannot show this request within a check run\'s size limit; it cannot be approved here and will be denied.';
}

function statementSection(shown: Showable, sessionId: string): string[] {
  if (shown.ok) {
    return [
      '**Statement** (literals replaced by placeholders; invisible characters shown as ⟨U+…⟩, long space runs as ⟨N spaces⟩, long lines continued with ↪):',
      '',
      fence(shown.text, 'sql'),
    ];
  }
  return [
    `**This statement cannot be approved from the check run:** ${shown.why}. It is denied. Read it in the job's audit log (artifact ${code(`tollgate-audit-${sessionId}`)}, uploaded when the job ends); to run it, split it into smaller statements or have the policy allow it.`,
  ];
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
