// The job summary (GitHub-flavoured Markdown) of one session's audit log: counts by decision, the
// statements that were denied, reviewed or masked, and the approvals. Deterministic: the same lines
// give the same bytes. Statements arrive literal-free; everything from the log is escaped so that no
// value can break the tables or inject markup.

import { compileScrubber } from './redact.js';
import type { AuditLine } from './types.js';

export interface SummaryOptions {
  sessionId: string;
  role: string;
  /** Whether the audit chain verified (`chainOk` is accepted as an alias). */
  verified?: boolean;
  chainOk?: boolean;
  /** Name of the uploaded artifact, when it was uploaded. */
  artifact?: string;
  /** Rows shown per table before "… and N more" (default 100). */
  maxRows?: number;
  /** Values that must never appear (session secret, upstream password…): replaced if they do. */
  secrets?: readonly string[];
}

const DECISIONS = ['allow', 'review', 'deny', 'error'] as const;
const MAX_STATEMENT = 160;
const MAX_TEXT = 200;

/** Cut to `max` code points, marking the cut. */
function truncate(text: string, max: number): string {
  const chars = [...text.replace(/\s+/g, ' ').trim()];
  return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : chars.join('');
}

/** Plain text for a table cell: every character Markdown or HTML could act on is backslash-escaped. */
export function escapeCell(text: string, max = MAX_TEXT): string {
  return truncate(text, max).replace(/[\\`*_[\]<>#!|~&@]/g, (c) => `\\${c}`);
}

/** A code span for a table cell, whatever backticks and pipes the text holds. */
export function codeCell(text: string, max = MAX_STATEMENT): string {
  const body = truncate(text, max).replace(/\|/g, '\\|');
  if (body === '') return '';
  const longest = Math.max(0, ...(body.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const pad = longest > 0 || body.startsWith(' ') || body.endsWith(' ') ? ' ' : '';
  return `${fence}${pad}${body}${pad}${fence}`;
}

function statementCell(line: AuditLine): string {
  if (line.type === 'http' && line.http) return codeCell(`${line.http.upstream}: ${line.http.method} ${line.http.path} → ${line.http.status}`);
  if (line.type !== 'sql') return `*${line.type}*`;
  return line.statement ? codeCell(line.statement) : '—';
}

function maskedCell(line: AuditLine): string {
  return (line.masked ?? []).map((m) => `${escapeCell(m.column, 80)} (${escapeCell(m.strategy, 20)})`).join(', ');
}

function outcome(line: AuditLine): string {
  const a = line.approval;
  if (!a) return '';
  if (a.approved) return 'approved';
  return /timed? ?out/i.test(a.reason ?? '') ? 'timed out' : 'denied';
}

function whereCell(where: string | undefined, via: string): string {
  if (where && /^https:\/\/[^\s()<>[\]]+$/.test(where)) return `[${escapeCell(via || 'link', 40)}](${where})`;
  return escapeCell(where ?? via ?? '');
}

function table(header: string[], align: string[], rows: string[][], max: number): string[] {
  const out = [`| ${header.join(' | ')} |`, `| ${align.join(' | ')} |`];
  for (const r of rows.slice(0, max)) out.push(`| ${r.join(' | ')} |`);
  if (rows.length > max) out.push('', `… and ${rows.length - max} more in the audit log.`);
  return out;
}

export function renderSummary(lines: readonly AuditLine[], opts: SummaryOptions): string {
  const verified = opts.verified ?? opts.chainOk ?? false;
  const max = opts.maxRows ?? 100;
  const out: string[] = [];
  out.push(`## tollgate session ${codeCell(opts.sessionId, 40)}`, '');
  if (!verified) {
    out.push("> **Warning:** the audit log's hash chain is broken, so this record cannot be trusted.", '');
  }
  const facts = [
    `**Role** ${codeCell(opts.role, 80) || '—'}`,
    `**Requests** ${lines.length}`,
    `**Audit chain** ${verified ? 'verified' : 'BROKEN'}`,
  ];
  if (opts.artifact) facts.push(`**Artifact** ${codeCell(opts.artifact, 120)}`);
  out.push(facts.join(' · '), '');

  const counts = new Map<string, number>(DECISIONS.map((d) => [d, 0]));
  for (const l of lines) counts.set(l.decision, (counts.get(l.decision) ?? 0) + 1);
  out.push(...table(['Decision', 'Count'], ['---', '---:'], [...counts].map(([d, n]) => [escapeCell(d), String(n)]), Infinity), '');

  const notable = lines.filter((l) => l.decision === 'deny' || l.decision === 'review' || l.decision === 'error' || l.approval || (l.masked?.length ?? 0) > 0);
  out.push('### Denied, reviewed and masked statements', '');
  if (notable.length === 0) {
    out.push('No statement was denied, reviewed or masked.', '');
  } else {
    const rows = notable.map((l) => [
      String(l.seq),
      escapeCell(l.time, 40),
      escapeCell(l.decision),
      statementCell(l),
      l.rule ? codeCell(l.rule, 80) : '',
      escapeCell(l.reason ?? ''),
      outcome(l),
      maskedCell(l),
    ]);
    out.push(...table(['Seq', 'Time', 'Decision', 'Statement', 'Rule', 'Reason', 'Review', 'Masked'], ['---:', '---', '---', '---', '---', '---', '---', '---'], rows, max), '');
  }

  const approvals = lines.filter((l) => l.approval);
  out.push('### Approvals', '');
  if (approvals.length === 0) {
    out.push('No statement needed an approval.', '');
  } else {
    const rows = approvals.map((l) => {
      const a = l.approval!;
      return [codeCell(a.id, 60), statementCell(l), outcome(l), a.approver ? codeCell(a.approver, 60) : '—', escapeCell(a.at ?? '—', 40), whereCell(a.where, a.via)];
    });
    out.push(...table(['Request', 'Statement', 'Outcome', 'Approver', 'Time', 'Where'], ['---', '---', '---', '---', '---', '---'], rows, max), '');
  }

  const head = lines.length > 0 ? lines[lines.length - 1]!.hash : null;
  if (head) out.push(`Chain head: ${codeCell(head, 64)} (seq ${lines[lines.length - 1]!.seq}).`, '');
  // Last line of defence: the log is sanitized when written, but this file may have been edited since.
  return compileScrubber(opts.secrets ?? [])(`${out.join('\n').trimEnd()}\n`);
}
