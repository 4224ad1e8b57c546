// `tollgate audit verify F.jsonl`: exit 0 and the count when the chain is intact, 1 naming the first
// broken line, 2 for usage errors or a file that cannot be read.

import { verifyAuditFile } from '../audit/verify.js';
import { stdio, type CliIO } from './args.js';

const USAGE = 'usage: tollgate audit verify FILE.jsonl';


/** `argv` are the arguments after `audit` (a leading `audit` is tolerated). Returns the exit code. */
export async function run(argv: string[], io: CliIO = stdio): Promise<number> {
  const args = argv[0] === 'audit' ? argv.slice(1) : argv;
  if (args[0] === '--help' || args[0] === '-h') {
    io.out(USAGE);
    return 0;
  }
  if (args[0] !== 'verify' || args.length !== 2 || args[1]!.startsWith('-')) {
    io.err(USAGE);
    return 2;
  }
  const file = args[1]!;
  let result;
  try {
    result = await verifyAuditFile(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'is a directory' : e.message;
    io.err(`tollgate audit verify: cannot read ${file}: ${why}`);
    return 2;
  }
  if (result.ok) {
    io.out(`ok: ${result.count} records, chain intact`);
    return 0;
  }
  io.out(`line ${result.line}: ${result.reason}`);
  return 1;
}
