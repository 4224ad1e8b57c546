// `tollgate check`: decide SQL against a policy without any database (DESIGN.md, "Command line").
// Exit 0 all allowed, 1 something denied, 3 review needed and nothing denied, 2 bad input.
import { readFileSync } from 'node:fs';
import type { Policy } from '../policy/compile.js';
import { PolicyError } from '../policy/errors.js';
import { loadPolicy } from '../policy/load.js';
import { getRole, selectRole } from '../policy/roles.js';
import { createEngine } from '../policy/sql-analyzer.js';
import type { Decision, StatementDecision } from '../policy/types.js';
import { checkMcp, McpInputError } from './check-mcp.js';
import { exactlyOne, parseFlags, required, stdio, UsageError, type CliIO } from './args.js';
import { checkHttp, HttpCheckError } from './check-http.js';

export const USAGE =
  'usage: tollgate check --policy F (--role R | --claims F.json) (--sql TEXT | --file F.sql | --http "METHOD /path?query" [--upstream NAME]) [--json]  (--file - reads standard input)\n' +
  '       tollgate check --policy F (--role R | --claims F.json) --mcp (--tool NAME [--arguments JSON] | --listing F.json) [--server S] [--json]';


/** Bad input: reported as one line, exit 2. */
class InputError extends Error {}

function readText(file: string, what: string, stdin: () => string = () => readFileSync(0, 'utf8')): string {
  try {
    return file === '-' ? stdin() : readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (code ?? 'unreadable');
    throw new InputError(`cannot read ${what} ${file}: ${why}`);
  }
}

function roleFromClaims(policy: Policy, file: string): string {
  let claims: unknown;
  try {
    claims = JSON.parse(readText(file, 'the claims file'));
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`${file}: not valid JSON: ${(err as Error).message}`);
  }
  if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) {
    throw new InputError(`${file}: expected a JSON object of OIDC claims`);
  }
  return selectRole(policy, claims as Record<string, unknown>).name;
}

/** Whitespace collapsed and long text shortened, so each statement stays on one line. */
function oneLine(sql: string, max = 72): string {
  const flat = sql.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** Every output a mask applies to, the `*` of masked tables included (the proxy masks those by catalog). */
function allMasked(s: StatementDecision) {
  return [...s.masked, ...(s.starMasked ?? [])].sort((a, b) => a.index - b.index);
}

function textLine(s: StatementDecision): string {
  const parts: string[] = [];
  for (const m of s.masked) parts.push(`${m.name} (${m.strategy})`);
  // A `*` of masked tables: which columns it holds is known only to the catalog (the proxy masks them there).
  const stars = new Map<number, string[]>();
  for (const m of s.starMasked ?? []) stars.set(m.index, [...(stars.get(m.index) ?? []), `${m.column} ${m.strategy}`]);
  for (const list of stars.values()) parts.push(`* (where it holds ${list.join(', ')})`);
  const masked = parts.length ? `; masked: ${parts.join(', ')}` : '';
  return `${s.decision.padEnd(6)}  ${oneLine(s.sql)}  — ${s.reason}${masked}`;
}

function toJson(d: Decision): string {
  return JSON.stringify({
    decision: d.decision,
    statements: d.statements.map((s) => ({
      sql: s.sql,
      kind: s.kind,
      decision: s.decision,
      rule: s.rule,
      reason: s.reason,
      accesses: s.accesses.map((a) => ({ kind: a.kind, object: a.object ?? null })),
      masked: allMasked(s).map((m) => ({ index: m.index, name: m.name, strategy: m.strategy, column: m.column })),
    })),
  });
}

export function exitCode(d: Decision): number {
  return d.decision === 'deny' ? 1 : d.decision === 'review' ? 3 : 0;
}

/** The command, testable in-process: returns the exit code, writes only through `io`. */
export async function runCheck(argv: readonly string[], io: CliIO = stdio): Promise<number> {
  try {
    const flags = parseFlags(argv, {
      string: ['policy', 'role', 'claims', 'sql', 'file', 'tool', 'arguments', 'server', 'listing', 'http', 'upstream'],
      boolean: ['json', 'help', 'mcp'],
    });
    if (flags.help) {
      io.out(USAGE);
      return 0;
    }
    const policy = loadPolicy(required(flags.policy, 'policy'));
    const role = exactlyOne(flags, ['role', 'claims']) === 'role'
      ? getRole(policy, flags.role!).name
      : roleFromClaims(policy, flags.claims!);
    if (flags.mcp) {
      if (flags.sql !== undefined || flags.file !== undefined) throw new UsageError('--mcp decides MCP requests: --sql and --file do not apply');
      return await checkMcp(policy, role, flags, io);
    }
    for (const f of ['tool', 'arguments', 'server', 'listing'] as const) {
      if (flags[f] !== undefined) throw new UsageError(`--${f} needs --mcp`);
    }
    if (exactlyOne(flags, ['sql', 'file', 'http']) === 'http') {
      const result = checkHttp(policy, role, flags.http!, flags.upstream);
      io.out(flags.json ? JSON.stringify(result.json) : result.text);
      return result.exit;
    }
    if (flags.upstream !== undefined) throw new UsageError('--upstream goes with --http');
    const sql = exactlyOne(flags, ['sql', 'file']) === 'sql' ? flags.sql! : readText(flags.file!, 'the SQL file', io.stdin);

    const engine = await createEngine(policy, role);
    const decision = engine.decide(sql);
    if (decision.statements.length === 0) throw new InputError('no SQL statement in the input');
    if (flags.json) io.out(toJson(decision));
    else for (const s of decision.statements) io.out(textLine(s));
    return exitCode(decision);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`tollgate check: ${err.message} (${USAGE})`);
      return 2;
    }
    if (err instanceof PolicyError || err instanceof InputError || err instanceof McpInputError || err instanceof HttpCheckError) {
      io.err(`tollgate check: ${err.message}`);
      return 2;
    }
    // Anything else is our failure, not a decision: one line, no stack trace, never exit 0.
    io.err(`tollgate check: internal error: ${(err as Error)?.message ?? String(err)}`);
    return 2;
  }
}

export function run(argv: string[]): Promise<number> {
  return runCheck(argv);
}
