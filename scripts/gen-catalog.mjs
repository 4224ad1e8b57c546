#!/usr/bin/env node
// Generates src/sql/catalog.generated.json from a real PostgreSQL server's pg_catalog, so the list of
// built-in functions and relations is PostgreSQL's own (regenerate for a new server version:
// `npm run gen:catalog`). Connection: PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE, default
// 127.0.0.1:5432 postgres/test.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const out = fileURLToPath(new URL('../src/sql/catalog.generated.json', import.meta.url));
const client = new pg.Client({
  host: process.env.PGHOST ?? '127.0.0.1',
  port: Number(process.env.PGPORT ?? 5432),
  user: process.env.PGUSER ?? 'postgres',
  password: process.env.PGPASSWORD,
  database: process.env.PGDATABASE ?? 'test',
});

await client.connect();
try {
  const version = (await client.query('SHOW server_version')).rows[0].server_version;
  const versionNum = Number((await client.query('SHOW server_version_num')).rows[0].server_version_num);
  // One row per function name: the most volatile of its overloads (v > s > i), and its kinds
  // (f function, a aggregate, w window, p procedure).
  const fns = await client.query(`
    SELECT proname AS name,
           CASE WHEN bool_or(provolatile = 'v') THEN 'v' WHEN bool_or(provolatile = 's') THEN 's' ELSE 'i' END AS volatility,
           string_agg(DISTINCT prokind::text, '' ORDER BY prokind::text) AS kinds
      FROM pg_proc
     WHERE pronamespace = 'pg_catalog'::regnamespace
     GROUP BY proname
     ORDER BY proname COLLATE "C"`);
  const ops = await client.query(`
    SELECT oprname AS name FROM pg_operator
     WHERE oprnamespace = 'pg_catalog'::regnamespace
     GROUP BY oprname
     ORDER BY oprname COLLATE "C"`);
  const rels = await client.query(`
    SELECT relname AS name FROM pg_class
     WHERE relnamespace = 'pg_catalog'::regnamespace AND relkind IN ('r','v','m','S','f','p')
     ORDER BY relname COLLATE "C"`);
  // Compact, diff-friendly: one function per line, value = volatility letter + prokind letters.
  const lines = [
    '{',
    ` "generatedBy": "scripts/gen-catalog.mjs",`,
    ` "serverVersion": ${JSON.stringify(version)},`,
    ` "serverVersionNum": ${versionNum},`,
    ` "relations": ${JSON.stringify(rels.rows.map((r) => r.name))},`,
    ` "operators": ${JSON.stringify(ops.rows.map((r) => r.name))},`,
    ' "functions": {',
    fns.rows.map((r) => `  ${JSON.stringify(r.name)}: ${JSON.stringify(r.volatility + r.kinds)}`).join(',\n'),
    ' }',
    '}',
  ];
  writeFileSync(out, lines.join('\n') + '\n');
  console.log(`wrote ${out}: PostgreSQL ${version}, ${fns.rows.length} function names, ${ops.rows.length} operators, ${rels.rows.length} relations`);
} finally {
  await client.end();
}
