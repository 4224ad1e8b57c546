// `tollgate`: the command-line entry point (bundled to dist/cli.js). It only dispatches: each
// subcommand is src/cli/<name>.ts exporting `run(argv: string[]): Promise<number>` (the exit
// code), loaded on demand so that one command's dependencies (PGlite for `demo`) never slow down
// or break another, and a command whose module is missing says so instead of crashing.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stdio, UsageError, type CliIO } from './args.js';

export interface Command {
  /** Arguments after the command name, for the usage text. */
  usage: string;
  summary: string;
  load: () => Promise<unknown>;
}

// One line per command. The module receives the arguments after the command's name
// (for `audit verify F`, the audit module receives `verify F`).
export const COMMANDS: Readonly<Record<string, Command>> = {
  check: { usage: 'check --policy F (--role R | --claims F.json) (--sql TEXT | --file F.sql | --http "METHOD /path" [--upstream NAME]) [--json]', summary: 'decide SQL or an HTTP request against a policy, offline', load: () => import('./check.js') },
  lint: { usage: 'lint --policy F [--strict] [--json]', summary: 'what a valid policy can still get wrong (identity by name, mutable refs, …)', load: () => import('./lint.js') },
  serve: { usage: 'serve --policy F --role R --upstream postgres://… [--listen 127.0.0.1:6432] [--audit F.jsonl]', summary: 'run the enforcing proxy in the foreground', load: () => import('./serve.js') },
  demo: { usage: 'demo [--tour]', summary: 'an embedded PostgreSQL behind the proxy with policies/demo.yml', load: () => import('./demo.js') },
  mcp: { usage: 'mcp --policy F --role R [--audit F.jsonl] [--server NAME] [--listen 127.0.0.1:PORT] (-- COMMAND [ARGS…] | --url URL)', summary: 'wrap one MCP server: tools, resources and prompts decided, masked and recorded', load: () => import('./mcp.js') },
  audit: { usage: 'audit verify F.jsonl | audit (verify|export) --state URL --session ID', summary: 'check the hash chain of an audit log (a file, or a gateway session in the state store)', load: () => import('./audit.js') },
  gateway: { usage: 'gateway [migrate] --config F.yml', summary: 'run the org gateway (or create/upgrade its state store)', load: () => import('./gateway.js') },
};


export function usage(commands: Readonly<Record<string, Command>> = COMMANDS): string {
  const lines = Object.values(commands).flatMap((c) => [`  tollgate ${c.usage}`, `      ${c.summary}`]);
  return ['usage:', ...lines, '', 'tollgate <command> --help shows the options of a command.'].join('\n');
}

function isMissingModule(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  return (
    e?.code === 'ERR_MODULE_NOT_FOUND' ||
    (typeof e?.message === 'string' && /Cannot find module|Failed to load url|Does the file exist/.test(e.message))
  );
}

const firstLine = (err: unknown): string => String((err as Error)?.message ?? err).split('\n')[0]!;

/** Runs one command line; returns the exit code. Never throws, never prints a stack trace. */
export async function main(
  argv: readonly string[],
  io: CliIO = stdio,
  commands: Readonly<Record<string, Command>> = COMMANDS,
): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.err(usage(commands));
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    io.out(usage(commands));
    return 0;
  }
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command) {
    io.err(`tollgate: unknown command ${JSON.stringify(name)}`);
    io.err(usage(commands));
    return 2;
  }

  let run: unknown;
  try {
    run = ((await command.load()) as { run?: unknown } | null)?.run;
  } catch (err) {
    if (!isMissingModule(err)) {
      io.err(`tollgate ${name}: failed to load: ${firstLine(err)}`);
      return 1;
    }
    io.err(`tollgate: the ${name} command is not available in this build (${firstLine(err)})`);
    return 2;
  }
  if (typeof run !== 'function') {
    io.err(`tollgate: the ${name} command is not available in this build (its module has no run())`);
    return 2;
  }

  try {
    const code = await (run as (argv: string[]) => Promise<number>)(rest);
    return Number.isInteger(code) ? code : 1;
  } catch (err) {
    if (process.env.TOLLGATE_DEBUG) io.err(String((err as Error)?.stack ?? err));
    if (err instanceof UsageError || (err as { name?: unknown })?.name === 'PolicyError') {
      io.err(`tollgate ${name}: ${firstLine(err)}`);
      return 2;
    }
    io.err(`tollgate ${name}: ${firstLine(err)}`);
    return 1;
  }
}

// Run only when this file is the program (node dist/cli.js, or the npm bin symlink to it), not
// when a test imports it.
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`tollgate: ${firstLine(err)}\n`);
      process.exitCode = 1;
    },
  );
}
