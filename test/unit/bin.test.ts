// `npx tollgate …` runs the package's bin directly (no `node` in front): it must carry a hashbang and
// be executable, or the shell tries to run JavaScript.
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

describe('the tollgate bin', () => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { bin: Record<string, string> };

  it('is dist/cli.js, with a hashbang and the executable bit', () => {
    expect(pkg.bin).toEqual({ tollgate: 'dist/cli.js' });
    expect(readFileSync('dist/cli.js', 'utf8').split('\n', 1)[0]).toBe('#!/usr/bin/env node');
    expect(statSync('dist/cli.js').mode & 0o111).toBe(0o111);
  });

  it('runs when executed directly', () => {
    const r = spawnSync('./dist/cli.js', ['--help'], { encoding: 'utf8' });
    expect(r.stderr + r.stdout).toMatch(/^usage:\n {2}tollgate check/m);
  });
});
