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
 * errors from the identity and policy modules, which carry a stable `code` and are written not to
 * include token or secret material. Anything else is summarized without its text.
 */
export function safeMessage(err: unknown, redact: readonly string[] = []): string {
  let text: string;
  if (err instanceof ConfigurationError || err instanceof SafeFailure) text = err.message;
  else if (isCodedError(err)) text = err.message;
  else if (err instanceof Error) text = `internal error (${err.name}); rerun with ACTIONS_STEP_DEBUG for details`;
  else text = 'internal error';
  for (const s of redact) if (s) text = text.split(s).join('***');
  return text;
}

/** Errors from sibling modules (IdentityError, PolicyError, …): a string `code` and a written message. */
/** The stack of an unexpected error for the debug log (shown only with ACTIONS_STEP_DEBUG), secrets removed. */
export function debugDetail(err: unknown, redact: readonly string[] = []): string {
  let text = err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err);
  for (const s of redact) if (s) text = text.split(s).join('***');
  return text;
}

function isCodedError(err: unknown): err is Error & { code: string } {
  if (!(err instanceof Error) || 'syscall' in err) return false;
  const code = (err as unknown as { code?: unknown }).code;
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code);
}
