// Durations in policies: hours, minutes and seconds in that order, e.g. 90s, 30m, 1h, 1h30m, 1h0m30s.

export const DURATION_PATTERN = /^(?=\d)(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/** Milliseconds of a duration, or null when the text is not one (or is zero). */
export function parseDuration(text: string): number | null {
  const m = DURATION_PATTERN.exec(text);
  if (!m) return null;
  const [h, min, s] = [m[1], m[2], m[3]].map((part) => (part === undefined ? 0 : Number(part)));
  const ms = ((h! * 60 + min!) * 60 + s!) * 1000;
  return ms > 0 && Number.isSafeInteger(ms) ? ms : null;
}
