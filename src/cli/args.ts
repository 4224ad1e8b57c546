// The flag parser every subcommand shares: node's util.parseArgs underneath (strict: unknown flags
// and missing values are errors), typed results, and one error class the dispatcher turns into a
// single line on stderr and exit code 2.
import { parseArgs } from 'node:util';

/** Where a command writes its lines; tests pass their own to capture them. */
export interface CliIO {
  out: (line: string) => void;
  err: (line: string) => void;
  /** Standard input as text, for `--file -` (default: the process's). */
  stdin?: () => string;
}

/** The process's own stdout and stderr, one line per call. */
export const stdio: CliIO = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/** A mistake in how the command was called (exit code 2, one line, no stack trace). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'ERR_USAGE';
}

export interface FlagSpec {
  /** Flags that take no value: `--json`. */
  readonly boolean?: readonly string[];
  /** Flags that take one value: `--policy F` or `--policy=F`. */
  readonly string?: readonly string[];
  /** How many positional arguments are allowed (default 0). */
  readonly positionals?: number;
}

type Names<T> = T extends readonly (infer N extends string)[] ? N : never;

export type Flags<S extends FlagSpec> = { [K in Names<S['string']>]?: string } & {
  [K in Names<S['boolean']>]?: boolean;
} & { readonly _: string[] };

/**
 * Parses `argv` (the arguments after the subcommand). Throws UsageError naming the flag on an
 * unknown flag, a missing value, a repeated flag or too many positional arguments.
 */
export function parseFlags<const S extends FlagSpec>(argv: readonly string[], spec: S): Flags<S> {
  const options: Record<string, { type: 'string' | 'boolean'; multiple: true }> = {};
  for (const name of spec.boolean ?? []) options[name] = { type: 'boolean', multiple: true };
  for (const name of spec.string ?? []) options[name] = { type: 'string', multiple: true };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError(plain(err as Error & { code?: string }));
  }
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(parsed.values)) {
    const values = value as (string | boolean)[];
    // A flag given twice is almost always a mistake (which --policy wins?): say so.
    if (values.length > 1) throw new UsageError(`--${name} given more than once`);
    out[name] = values[0];
  }
  const max = spec.positionals ?? 0;
  if (parsed.positionals.length > max) {
    throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[max])}`);
  }
  out._ = parsed.positionals;
  return out as Flags<S>;
}

// node's messages are long and mention parseArgs internals; keep the part a user needs.
function plain(err: Error & { code?: string }): string {
  const flag = /'(-{1,2}[^' ]+)/.exec(err.message)?.[1];
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown flag ${flag ?? err.message}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const name = flag?.split(/[ =]/)[0];
      if (name && /argument missing|argument is ambiguous/.test(err.message)) return `${name} needs a value`;
      if (name && /does not take an argument/.test(err.message)) return `${name} takes no value`;
      return err.message.split('\n')[0]!;
    }
    default:
      return err.message.split('\n')[0]!;
  }
}

/** Exactly one of `names` must be given; returns which. */
export function exactlyOne<F extends Record<string, unknown>>(flags: F, names: readonly (keyof F & string)[]): keyof F & string {
  const given = names.filter((n) => flags[n] !== undefined);
  const list = names.map((n) => `--${n}`).join(' or ');
  if (given.length === 0) throw new UsageError(`missing ${list}`);
  if (given.length > 1) throw new UsageError(`give only one of ${list}`);
  return given[0]!;
}

/** The value of a string flag that must be given. */
export function required(value: string | undefined, name: string): string {
  if (value === undefined || value === '') throw new UsageError(`missing --${name}`);
  return value;
}
