// The secrets main and post both know, in one list, so that anything either prints (the proxy's
// output, an error) has them replaced. The runner masks what main registered with setSecret too, but
// that is the runner's promise, not ours: we never print them in the first place.

/** The upstream URL and its password (as written and decoded). Never throws on a bad URL. */
export function upstreamSecrets(upstream: string): string[] {
  if (!upstream) return [];
  const out = [upstream];
  let password = '';
  try {
    password = new URL(upstream).password;
  } catch {
    return out;
  }
  if (password) {
    out.push(password);
    try {
      out.push(decodeURIComponent(password));
    } catch {
      // a malformed escape: the raw form is already listed
    }
  }
  return [...new Set(out)];
}

export function knownSecrets(s: { upstream: string; githubToken: string; sessionSecret: string }): string[] {
  return [...upstreamSecrets(s.upstream), s.githubToken, s.sessionSecret].filter((x) => x.length > 0);
}
