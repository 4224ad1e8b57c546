import { IdentityError } from '../identity/errors.js';
import { PolicyError } from '../policy/errors.js';

// Two kinds of failure, as actions/toolkit and codeql-action split them:
// - ConfigurationError: the workflow author can fix it (wrong input, missing permission, policy
//   that does not admit this job). Its message says how, and it is written to be safe to log.
// - everything else is an internal failure; only a generic, safe sentence reaches the log, because
//   an arbitrary exception may carry a URL with credentials or a token in its text.

export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';
}

/** A failure whose message was written by us and contains no secret. */
export class SafeFailure extends Error {
  override readonly name = 'SafeFailure';
}

/**
 * The one sentence that may be logged for `err`. Messages of our own error classes are safe; so are
 * the identity and policy modules' errors, which are written not to include token or secret material.
 * Anything else is summarized without its text: a stable upper-case `code` proves nothing (Node's own
 * `ERR_INVALID_URL`, `ERR_INVALID_ARG_TYPE`, … quote the value they were given, which may be a URL with
 * a password in it).
 */
export function safeMessage(err: unknown, redact: readonly string[] = []): string {
  let text: string;
  if (err instanceof ConfigurationError || err instanceof SafeFailure) text = err.message;
  else if (err instanceof IdentityError || err instanceof PolicyError) text = err.message;
  else if (err instanceof Error) text = `internal error (${err.name}); rerun with ACTIONS_STEP_DEBUG for details`;
  else text = 'internal error';
  for (const s of redact) if (s) text = text.split(s).join('***');
  return text;
}

/** The stack of an unexpected error for the debug log (shown only with ACTIONS_STEP_DEBUG), secrets removed. */
export function debugDetail(err: unknown, redact: readonly string[] = []): string {
  let text = err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err);
  for (const s of redact) if (s) text = text.split(s).join('***');
  return text;
}
