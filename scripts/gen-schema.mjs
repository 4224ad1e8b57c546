// Writes policies/schema.json from the zod schema in src/policy/schema.ts (the one the loader
// validates with), so editors check policies against exactly what tollgate accepts.
// `node scripts/gen-schema.mjs` writes it; `--check` exits 1 when the committed file is stale.
import { build } from 'esbuild';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const target = resolve('policies/schema.json');

// The schema is TypeScript: bundle it (zod included) to a temporary module and import that.
const dir = mkdtempSync(join(tmpdir(), 'tollgate-schema-'));
try {
  const out = join(dir, 'schema.mjs');
  await build({
    entryPoints: ['src/policy/schema.ts'],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'esm',
    logLevel: 'warning',
  });
  const { policyJsonSchema } = await import(pathToFileURL(out).href);
  const text = `${JSON.stringify(policyJsonSchema(), null, 2)}\n`;
  if (process.argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(target, 'utf8');
    } catch {
      // missing counts as stale
    }
    if (current !== text) {
      console.error('policies/schema.json is stale: run npm run gen:schema');
      process.exitCode = 1;
    }
  } else {
    writeFileSync(target, text);
    console.log(`wrote ${target}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
