// Bundles the CLI and the action entry points into self-contained ES modules in dist/ (or the
// directory given as the first argument, which the staleness test uses).
import { build } from 'esbuild';
import { chmodSync, copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

const out = resolve(process.argv[2] ?? 'dist');
mkdirSync(out, { recursive: true });

// libpg-query's Emscripten loader and some CommonJS dependencies expect these globals.
// The hashbang makes dist/cli.js runnable as the package's `tollgate` bin (npx); node ignores it in
// the action's bundles.
const banner = [
  '#!/usr/bin/env node',
  "import { createRequire as __tgCreateRequire } from 'node:module';",
  "import { fileURLToPath as __tgFileURLToPath } from 'node:url';",
  "import { dirname as __tgDirname } from 'node:path';",
  'var require = __tgCreateRequire(import.meta.url);',
  'var __filename = __tgFileURLToPath(import.meta.url);',
  'var __dirname = __tgDirname(__filename);',
].join('\n');

await build({
  entryPoints: {
    cli: 'src/cli/index.ts',
    main: 'src/action/main.ts',
    post: 'src/action/post.ts',
  },
  outdir: out,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  banner: { js: banner },
  // PGlite ships its own WASM and data files; the demo loads it from node_modules at run time.
  external: ['@electric-sql/pglite', '@electric-sql/pglite-socket', 'pg-native', 'cloudflare:sockets'],
  legalComments: 'none',
  logLevel: 'warning',
  sourcemap: false,
});

const require = createRequire(import.meta.url);
const wasm = join(dirname(require.resolve('libpg-query')), 'libpg-query.wasm');
copyFileSync(wasm, join(out, 'libpg-query.wasm'));

// `tollgate` is the package's bin: it must be executable.
chmodSync(join(out, 'cli.js'), 0o755);
