// The statement as a reviewer reads it: every character that will run is visible, and nothing can
// hide behind another. A reviewer approves what they see, so what they see must be the statement:
// - invisible and direction-changing characters (zero-width spaces, bidi overrides and isolates,
//   no-break and other odd spaces, controls, tag characters, variation selectors) are shown as
//   ⟨U+XXXX⟩, so `users` with a zero-width space is not `users`, and text cannot be reordered;
// - long runs of whitespace (padding that pushes a clause off screen) are collapsed into a visible
//   ⟨N spaces⟩ / ⟨N blank lines⟩ mark;
// - long lines are broken (GitHub scrolls code blocks sideways) with ↪ starting each continuation;
// - the marks' own characters in the statement are escaped too, so a statement cannot fake a mark.
// Nothing is cut: a statement that is too long to show whole is reported as such, never shortened.

/** Characters shown as ⟨U+XXXX⟩: everything invisible or layout-changing, and the marks' own. */
const HIDDEN = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}\p{M}\u115f\u1160\u3164\uffa0\u2800⟨⟩↪]/gu;

const LINE_WIDTH = 100;
const SPACE_RUN = 8;
const BLANK_RUN = 2;

export interface StatementView {
  text: string;
  /** Characters in `text`. */
  length: number;
}

export function viewStatement(statement: string): StatementView {
  const lines = statement.replace(/\r\n?/g, '\n').split('\n').map(showLine);
  const out: string[] = [];
  let blanks = 0;
  const flushBlanks = () => {
    if (blanks > BLANK_RUN) out.push(`⟨${blanks} blank lines⟩`);
    else for (let i = 0; i < blanks; i++) out.push('');
    blanks = 0;
  };
  for (const line of lines) {
    if (line === '') {
      blanks++;
      continue;
    }
    flushBlanks();
    out.push(...wrap(line));
  }
  // Trailing blank lines are shown too: nothing of the statement goes unmarked.
  flushBlanks();
  const text = out.join('\n');
  return { text, length: text.length };
}

/** One line: hidden characters escaped (combining marks only when they stand on an ASCII letter or alone), space runs marked. */
function showLine(line: string): string {
  let s = line.replace(HIDDEN, (c, offset: number, whole: string) => {
    if (c === ' ') return c;
    // A combining mark on a non-ASCII letter is ordinary text (é written as e + ´ is rarer, and shown).
    if (/\p{M}/u.test(c) && offset > 0 && /[^\x00-\x7f]/.test(whole[offset - 1]!) && !/\p{M}/u.test(whole[offset - 1]!)) return c;
    return `⟨U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}⟩`;
  });
  s = s.replace(new RegExp(` {${SPACE_RUN + 1},}`, 'g'), (run) => ` ⟨${run.length} spaces⟩ `);
  return s;
}

/** Breaks a line longer than LINE_WIDTH; continuations start with ↪ (which the text itself cannot contain unescaped). */
function wrap(line: string): string[] {
  const chars = [...line];
  if (chars.length <= LINE_WIDTH) return [line];
  const out: string[] = [];
  for (let i = 0; i < chars.length; i += LINE_WIDTH) out.push(`${i === 0 ? '' : '↪ '}${chars.slice(i, i + LINE_WIDTH).join('')}`);
  return out;
}

/**
 * A body the check run cannot show: the statement's function, procedure or DO body was replaced by a
 * literal placeholder before it reached the approver, so the code that would run is not on the page.
 */
export function hidesBody(statement: string): boolean {
  return /^\s*DO\b/i.test(statement) || /\b(?:FUNCTION|PROCEDURE)\b[\s\S]*\bAS\s+\?/i.test(statement);
}
