// npm run bench:policy — how long the policy engine takes to decide a statement.
//
// Bundles the TypeScript sources (src/policy, src/sql and the corpus loaders in test/support) with
// esbuild into a temporary directory, imports the bundle, then measures engine.decide():
//   firstSight     a statement never seen (empty cache: parse, analyse, decide)
//   repeatedShape  the same statement again with different literals (a shape-cache hit: PostgreSQL's
//                  own normalisation of the text, then a lookup)
//   exactRepeat    the identical text again (exact-text cache hit)
// over the ordinary corpus (test/fixtures/ordinary.yml, each under its own policy role) and over
// PostgreSQL 17's regression corpus (under policies/readonly.yml). Prints JSON: median and p99 in µs.
import { build } from 'esbuild';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TARGETS = { repeatedShapeMedianUs: 20, firstSightMedianUs: 300 };

async function bundle(dir) {
  const entry = join(dir, 'entry.ts');
  writeFileSync(
    entry,
    [
      `export { loadPolicy } from ${JSON.stringify(join(ROOT, 'src/policy/load.ts'))};`,
      `export { createEngine } from ${JSON.stringify(join(ROOT, 'src/policy/sql-analyzer.ts'))};`,
      `export { loadOrdinary } from ${JSON.stringify(join(ROOT, 'test/support/corpus.ts'))};`,
      `export { loadRegressCorpus } from ${JSON.stringify(join(ROOT, 'test/support/regress.ts'))};`,
      `export { scanSync } from 'libpg-query';`,
      `export { initSql } from ${JSON.stringify(join(ROOT, 'src/sql/parser.ts'))};`,
    ].join('\n'),
  );
  const out = join(dir, 'bench.mjs');
  await build({
    entryPoints: [entry],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    nodePaths: [join(ROOT, 'node_modules')],
    // libpg-query's loader needs CommonJS globals; import.meta.url of the bundle points at `dir`,
    // where the .wasm is copied.
    banner: {
      js: [
        "import { createRequire as __bCreateRequire } from 'node:module';",
        "import { fileURLToPath as __bFileURLToPath } from 'node:url';",
        "import { dirname as __bDirname } from 'node:path';",
        'const require = __bCreateRequire(import.meta.url);',
        'const __filename = __bFileURLToPath(import.meta.url);',
        'const __dirname = __bDirname(__filename);',
      ].join('\n'),
    },
    logLevel: 'warning',
  });
  const req = createRequire(join(ROOT, 'package.json'));
  copyFileSync(join(dirname(req.resolve('libpg-query')), 'libpg-query.wasm'), join(dir, 'libpg-query.wasm'));
  return import(pathToFileURL(out).href);
}

/**
 * The same statement with other literals: integer and plain string constants found by PostgreSQL's
 * own scanner get different values, so the text changes and the shape stays. Null when the
 * statement has no such literal (its repeat can only be an exact-text hit).
 */
function withOtherLiterals(scanSync, sql) {
  let tokens;
  try {
    tokens = scanSync(sql).tokens;
  } catch {
    return null;
  }
  const bytes = Buffer.from(sql, 'utf8');
  const parts = [];
  let at = 0;
  let changed = false;
  for (const t of tokens) {
    let replacement = null;
    if (t.tokenName === 'ICONST') replacement = String(Number(t.text) + 7);
    else if (t.tokenName === 'SCONST' && /^'[A-Za-z0-9_ ]*'$/.test(t.text)) replacement = `'x${t.text.slice(1, -1)}'`;
    if (replacement === null) continue;
    parts.push(bytes.subarray(at, t.start), Buffer.from(replacement));
    at = t.end;
    changed = true;
  }
  if (!changed) return null;
  parts.push(bytes.subarray(at));
  return Buffer.concat(parts).toString('utf8');
}

function stats(samplesNs) {
  if (samplesNs.length === 0) return { n: 0, median_us: null, p99_us: null };
  const us = samplesNs.map((n) => Number(n) / 1000).sort((a, b) => a - b);
  const at = (q) => us[Math.min(us.length - 1, Math.floor(q * us.length))];
  const r = (x) => Math.round(x * 10) / 10;
  return { n: us.length, median_us: r(at(0.5)), p99_us: r(at(0.99)) };
}

/** Per statement, the median of its samples over the rounds: one statement, one figure. */
function perStatementMedians(samplesByItem) {
  const out = [];
  for (const samples of samplesByItem) {
    if (samples.length === 0) continue;
    const sorted = [...samples].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    out.push(sorted[Math.floor(sorted.length / 2)]);
  }
  return out;
}

function time(fn) {
  const t0 = process.hrtime.bigint();
  const v = fn();
  return [process.hrtime.bigint() - t0, v];
}

/**
 * items: [{ sql, engineKey }]; makeEngine(key) gives a fresh engine (empty cache).
 * Each round uses fresh engines, so every first decision is a first sight.
 */
async function measure(items, makeEngine, rounds) {
  const first = items.map(() => []);
  const shape = items.map(() => []);
  const exact = items.map(() => []);
  const shapeOutcome = { shapeHits: 0, notCachedByShape: 0 };
  for (let round = 0; round < rounds; round++) {
    const engines = new Map();
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      let engine = engines.get(item.engineKey);
      if (!engine) {
        engine = await makeEngine(item.engineKey);
        engines.set(item.engineKey, engine);
      }
      const [t1] = time(() => engine.decide(item.sql));
      first[i].push(t1);
      const [t2] = time(() => engine.decide(item.sql));
      exact[i].push(t2);
      if (item.variant !== null) {
        const before = engine.cacheStats().shapeHits;
        const [t3] = time(() => engine.decide(item.variant));
        if (engine.cacheStats().shapeHits > before) {
          shape[i].push(t3);
          if (round === 0) shapeOutcome.shapeHits += 1;
        } else if (round === 0) {
          // literal-sensitive statements and multi-statement messages are never cached by shape
          shapeOutcome.notCachedByShape += 1;
        }
      }
    }
  }
  return {
    statements: items.length,
    rounds,
    // One figure per statement (its median over the rounds), so a scheduler hiccup on this shared
    // machine does not pass for the engine's p99.
    firstSight: stats(perStatementMedians(first)),
    repeatedShape: { ...stats(perStatementMedians(shape)), ...shapeOutcome },
    exactRepeat: stats(perStatementMedians(exact)),
    allSamples: { firstSight: stats(first.flat()), repeatedShape: stats(shape.flat()), exactRepeat: stats(exact.flat()) },
  };
}

const dir = mkdtempSync(join(tmpdir(), 'tollgate-bench-policy-'));
try {
  const lib = await bundle(dir);
  await lib.initSql(); // the scanner used for the literal variants needs the module loaded

  // Ordinary corpus: each entry under its own policy and role.
  const ordinary = lib.loadOrdinary(join(ROOT, 'test/fixtures')).map((e) => ({
    sql: e.sql,
    variant: withOtherLiterals(lib.scanSync, e.sql),
    engineKey: `${e.policy.startsWith('policies/') ? join(ROOT, e.policy) : join(ROOT, 'test', e.policy)}#${e.role}`,
  }));
  const policies = new Map();
  const makeEngine = async (key) => {
    const [file, role] = key.split('#');
    if (!policies.has(file)) policies.set(file, lib.loadPolicy(file));
    return lib.createEngine(policies.get(file), role);
  };
  // Warm up the parser and the JIT once, outside the figures.
  await measure(ordinary, makeEngine, 2);
  const ordinaryResult = await measure(ordinary, makeEngine, 21);

  // Regression corpus: every statement the parser accepts, under policies/readonly.yml.
  const regress = (await lib.loadRegressCorpus())
    .filter((s) => s.parsed)
    .map((s) => ({ sql: s.sql, variant: withOtherLiterals(lib.scanSync, s.sql), engineKey: `${join(ROOT, 'policies/readonly.yml')}#readonly` }));
  const makeRegressEngine = async (key) => {
    const [file, role] = key.split('#');
    // A cache larger than the corpus, so first sights are not evicted before their repeat.
    return lib.createEngine(lib.loadPolicy(file), role, { cacheSize: 100_000 });
  };
  const regressResult = await measure(regress, makeRegressEngine, 3);

  const result = {
    node: process.version,
    cpus: cpus().length,
    loadAverage: loadavg().map((x) => Math.round(x * 10) / 10),
    targets: TARGETS,
    ordinary: ordinaryResult,
    regress: regressResult,
    met: {
      ordinaryRepeatedShape: ordinaryResult.repeatedShape.median_us < TARGETS.repeatedShapeMedianUs,
      ordinaryFirstSight: ordinaryResult.firstSight.median_us < TARGETS.firstSightMedianUs,
      regressRepeatedShape: regressResult.repeatedShape.median_us < TARGETS.repeatedShapeMedianUs,
      regressFirstSight: regressResult.firstSight.median_us < TARGETS.firstSightMedianUs,
    },
  };
  console.log(JSON.stringify(result, null, 2));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
