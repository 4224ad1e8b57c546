// `npm run oracle`: the whole differential run on a private cluster, summary on stdout (text, or JSON
// with --json FILE too). Options: --regress FILE,FILE… (only these regression files), --no-regress,
// --no-corpora, --no-generated.
import { writeFileSync } from 'node:fs';
import { startCluster, type Cluster } from './cluster.js';
import { runAttacks, runOrdinary } from './corpora.js';
import { runGenerated } from './generated.js';
import { createOracleDatabase, emptySummary, merge, regressFiles, runRegressFile, type Summary } from './run.js';
import { formatSummary } from './report.js';

export async function main(argv: string[]): Promise<number> {
  const opt = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const flag = (name: string): boolean => argv.includes(name);
  const started = performance.now();
  let cluster: Cluster | null = null;
  const stop = async (): Promise<void> => {
    const c = cluster;
    cluster = null;
    if (c) await c.stop();
  };
  const onSignal = (): void => {
    void stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    cluster = await startCluster();
    const parts: Record<string, Summary> = {};
    if (!flag('--no-regress')) {
      await createOracleDatabase(cluster, 'regression');
      const only = opt('--regress');
      const all = regressFiles();
      // A slice of the schedule (--from/--to, 0-based, end excluded), after replaying unjudged the
      // files it depends on (--setup a,b…): lets several processes share a long run.
      const files = only ? only.split(',') : all.slice(Number(opt('--from') ?? 0), Number(opt('--to') ?? all.length));
      for (const f of opt('--setup')?.split(',') ?? []) await runRegressFile(cluster, 'regression', f, undefined, false);
      const total = emptySummary();
      const json = opt('--json');
      let done = 0;
      for (const f of files) {
        const s = await runRegressFile(cluster, 'regression', f);
        merge(total, s);
        done += 1;
        process.stderr.write(`${f}: ${s.statements} statements, ${s.judged} judged, ${s.missed.length} missed, ${Math.round(s.ms)} ms\n`);
        // The figures so far, after every file: a run stopped early still leaves what it measured.
        if (json) writeFileSync(`${json}.partial`, JSON.stringify({ files: done, of: files.length, last: f, regress: total }, null, 1));
      }
      parts.regress = total;
    }
    if (!flag('--no-corpora')) {
      await createOracleDatabase(cluster, 'attacks');
      // A bundle (scripts/oracle.mjs) is not next to test/fixtures: it says where they are.
      const fixtures = process.env.TOLLGATE_FIXTURES;
      parts.attacks = await runAttacks(cluster, 'attacks', fixtures);
      await createOracleDatabase(cluster, 'ordinary');
      parts.ordinary = await runOrdinary(cluster, 'ordinary', fixtures);
    }
    if (!flag('--no-generated')) {
      await createOracleDatabase(cluster, 'generated');
      parts.generated = await runGenerated(cluster, 'generated');
    }
    const out = { parts, seconds: Math.round((performance.now() - started) / 1000) };
    const json = opt('--json');
    if (json) writeFileSync(json, JSON.stringify(out, null, 1));
    process.stdout.write(formatSummary(parts) + `\n${out.seconds} s in all\n`);
    return Object.values(parts).some((p) => p.missed.length) ? 1 : 0;
  } finally {
    await stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
