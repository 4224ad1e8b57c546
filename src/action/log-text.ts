// Text that did not come from us (the proxy's output, which quotes client input: an unauthenticated
// client's startup parameters, a commenter's login) printed into the job log as data, never as a
// workflow command. The runner reads `::command::` at the start of a line and renders `##[group]`
// and friends; a line that could start either could add a mask, end a group, forge an annotation or
// turn commands back on.
//
// Two layers, each enough on its own: every line gets a fixed prefix (so nothing untrusted starts a
// line) with control characters escaped, and the block is wrapped in `::stop-commands::` with a random
// token the untrusted text cannot know, so the runner ignores commands inside it anyway.
import { randomBytes } from 'node:crypto';
import { compileScrubber } from '../audit/redact.js';

export const UNTRUSTED_PREFIX = '| ';

/** One line made inert: control characters (CR included: a viewer may start a line there) escaped. */
export function neutralise(line: string): string {
  const text = line.replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return `${UNTRUSTED_PREFIX}${text}`;
}

/**
 * The lines to write for `text` under `title`: a group, commands stopped, each line neutralised and
 * every known secret (and anything shaped like a JWT) replaced.
 */
export function untrustedBlock(title: string, text: string, secrets: readonly string[]): string[] {
  const scrub = compileScrubber(secrets);
  const token = randomBytes(16).toString('hex');
  const lines = scrub(text).split('\n').map(neutralise);
  return [`::group::${title}`, `::stop-commands::${token}`, ...lines, `::${token}::`, '::endgroup::'];
}
