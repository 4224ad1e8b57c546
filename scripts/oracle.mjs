// npm run oracle — tollgate's access analysis checked against PostgreSQL's own privilege checks.
//
// Bundles test/oracle/main.ts (which uses src/sql and the corpus loaders) with esbuild into a temporary
// directory and runs it: a private PostgreSQL cluster (initdb into a scratch folder, a loopback port
// of its own, stopped and removed at the end) replays PostgreSQL 17's regression files in order, then
// the attack and ordinary corpora and the generated statements; every statement is run as a role
// holding exactly the privileges its accesses name. Prints the summary; exit 1 when an access was
// missed. Arguments pass through: --regress a,b (only these files), --no-regress, --no-corpora,
// --no-generated, --json FILE.
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const dir = mkdtempSync(join(tmpdir(), 'tollgate-oracle-bundle-'));
// Also when a signal ends the run (the oracle stops its cluster, then exits).
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
try {
  const out = join(dir, 'oracle.mjs');
  await build({
    entryPoints: [join(ROOT, 'test/oracle/main.ts')],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    nodePaths: [join(ROOT, 'node_modules')],
    // libpg-query's loader needs CommonJS globals; its .wasm is copied next to the bundle.
    banner: {
      js: [
        "import { createRequire as __oCreateRequire } from 'node:module';",
        "import { fileURLToPath as __oFileURLToPath } from 'node:url';",
        "import { dirname as __oDirname } from 'node:path';",
        'const require = __oCreateRequire(import.meta.url);',
        'const __filename = __oFileURLToPath(import.meta.url);',
        'const __dirname = __oDirname(__filename);',
      ].join('\n'),
    },
    logLevel: 'warning',
  });
  const req = createRequire(join(ROOT, 'package.json'));
  copyFileSync(join(dirname(req.resolve('libpg-query')), 'libpg-query.wasm'), join(dir, 'libpg-query.wasm'));
  process.env.TOLLGATE_FIXTURES ??= join(ROOT, 'test/fixtures');
  // The shared corpus next to the checkout (test/support/regress.ts looks there from its own place).
  const corpus = join(ROOT, '../shared/corpora/postgres-regress-17');
  if (existsSync(corpus)) process.env.TOLLGATE_REGRESS_DIR ??= corpus;
  const { main } = await import(pathToFileURL(out).href);
  process.exitCode = await main(process.argv.slice(2));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
