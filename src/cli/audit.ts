// `tollgate audit verify F.jsonl`: exit 0 and the count when the chain is intact, 1 naming the first
// broken line, 2 for usage errors or a file that cannot be read.
// `tollgate audit verify --state URL --session ID --public-key F.pem`: one gateway session's chain in
// the state store, and its signed head (exit 1 when either fails).
// `tollgate audit export --state URL --session ID [--out F.jsonl]`: that chain in the in-runner log's
// JSON-lines format (stdout by default). `--state` may be omitted when TOLLGATE_STATE_URL is set.

import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { verifyAuditFile } from '../audit/verify.js';
import { readLines, readSignedHead, verifyChain } from '../gateway/chain.js';
import { getSession } from '../gateway/sessions.js';
import { Store } from '../gateway/store.js';
import { parseFlags, stdio, UsageError, type CliIO } from './args.js';

const USAGE = [
  'usage: tollgate audit verify FILE.jsonl',
  '       tollgate audit verify --state URL --session ID --public-key F.pem',
  '       tollgate audit export --state URL --session ID [--out F.jsonl]',
].join('\n');

/** `argv` are the arguments after `audit` (a leading `audit` is tolerated). Returns the exit code. */
export async function run(argv: string[], io: CliIO = stdio): Promise<number> {
  const args = argv[0] === 'audit' ? argv.slice(1) : argv;
  if (args[0] === '--help' || args[0] === '-h') {
    io.out(USAGE);
    return 0;
  }
  if ((args[0] === 'verify' || args[0] === 'export') && args.slice(1).some((a) => a.startsWith('--'))) {
    try {
      return await fromStore(args[0], args.slice(1), io);
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      io.err(`tollgate audit: ${err.message}`);
      io.err(USAGE);
      return 2;
    }
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

async function fromStore(what: 'verify' | 'export', argv: string[], io: CliIO): Promise<number> {
  const flags = parseFlags(argv, { string: ['state', 'session', 'public-key', 'out'] });
  const url = flags.state ?? process.env.TOLLGATE_STATE_URL;
  if (!url) throw new UsageError('--state URL is required (or set TOLLGATE_STATE_URL)');
  if (!flags.session) throw new UsageError('--session ID is required');
  if (what === 'verify' && flags.out) throw new UsageError('--out is for export');
  if (what === 'export' && flags['public-key']) throw new UsageError('--public-key is for verify');
  let publicKey: KeyObject | null = null;
  if (what === 'verify') {
    if (!flags['public-key']) throw new UsageError('--public-key F.pem is required: the signature of the chain head is checked against the key you trust, never one read from the store');
    try {
      publicKey = createPublicKey(readFileSync(flags['public-key'], 'utf8'));
    } catch (err) {
      io.err(`tollgate audit verify: cannot read the public key ${flags['public-key']}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      return 2;
    }
  }
  const store = new Store(url);
  try {
    const session = await getSession(store, flags.session);
    if (!session) {
      io.err(`tollgate audit ${what}: no session ${JSON.stringify(flags.session)} in the state store`);
      return 2;
    }
    const lines = await readLines(store, session.id);
    if (what === 'export') {
      const text = lines.length ? `${lines.join('\n')}\n` : '';
      if (flags.out) writeFileSync(flags.out, text, { mode: 0o600 });
      else if (lines.length) io.out(lines.join('\n'));
      if (flags.out) io.err(`tollgate audit export: ${lines.length} records of session ${session.id} written to ${flags.out}`);
      return 0;
    }
    const verdict = verifyChain(lines, await readSignedHead(store, session.id), publicKey, session.endedAt !== null);
    if (!verdict.ok) {
      io.out(`session ${session.id}: ${verdict.reason}`);
      return 1;
    }
    io.out(`ok: session ${session.id}: ${verdict.count} records, chain intact, ${verdict.signed ? 'head signature valid' : 'session still open (head not signed yet)'}`);
    return 0;
  } catch (err) {
    io.err(`tollgate audit ${what}: ${(err as Error).message}`);
    return 1;
  } finally {
    await store.close();
  }
}
