// The action runs the committed dist/, not src/: a rebuild must not change it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

describe('dist/', () => {
  it('is what npm run build makes from src/', () => {
    const out = mkdtempSync(join(tmpdir(), 'tollgate-dist-'));
    execFileSync(process.execPath, ['scripts/build.mjs', out], { stdio: 'pipe' });
    const built = readdirSync(out).sort();
    expect(readdirSync('dist').sort()).toEqual(built);
    for (const f of built) {
      const same = readFileSync(join(out, f)).equals(readFileSync(join('dist', f)));
      expect(same, `dist/${f} is stale: run npm run build and commit dist/`).toBe(true);
    }
  }, 120_000);
});
