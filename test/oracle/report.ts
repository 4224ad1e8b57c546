// The oracle's summary as text: one column per part, then the findings and the kinds not judged.
import type { Summary } from './run.js';

export function formatSummary(parts: Record<string, Summary>): string {
  const names = Object.keys(parts);
  const lines: string[] = [];
  const row = (label: string, f: (s: Summary) => number): void => {
    lines.push(`${label.padEnd(44)}${names.map((n) => String(f(parts[n]!)).padStart(11)).join('')}`);
  };
  lines.push(`${''.padEnd(44)}${names.map((n) => n.padStart(11)).join('')}`);
  row('statements', (s) => s.statements);
  row('judged', (s) => s.judged);
  row('  passed as the role', (s) => s.passed);
  row('  missed accesses', (s) => s.missed.length);
  row('  false denials', (s) => s.falseDenials.length);
  row('  with owner-checked views', (s) => s.notes.definerViews);
  row('  with SECURITY DEFINER routines', (s) => s.notes.definerFns);
  row('  with column defaults granted', (s) => s.notes.defaults);
  row('  with a temporary table shadowing a name', (s) => s.notes.tempShadow);
  const bodyKinds = [...new Set(names.flatMap((n) => Object.keys(parts[n]!.body)))].sort();
  if (bodyKinds.length) lines.push('refused inside a body tollgate does not read:');
  for (const k of bodyKinds) row(`  ${k}`, (s) => s.body[k] ?? 0);
  const kinds = [...new Set(names.flatMap((n) => Object.keys(parts[n]!.cannot)))]
    .sort((a, b) => names.reduce((t, n) => t + (parts[n]!.cannot[b] ?? 0) - (parts[n]!.cannot[a] ?? 0), 0));
  if (kinds.length) lines.push('not judged, by kind:');
  for (const k of kinds) row(`  ${k.length > 42 ? `${k.slice(0, 41)}…` : k}`, (s) => s.cannot[k] ?? 0);
  for (const n of names) {
    for (const m of parts[n]!.missed) lines.push(`MISSED [${m.source}] ${m.detail}\n    ${m.sql.replace(/\s+/g, ' ')}`);
    for (const m of parts[n]!.falseDenials) lines.push(`FALSE DENIAL [${m.source}] ${m.detail}\n    ${m.sql.replace(/\s+/g, ' ')}`);
  }
  return lines.join('\n');
}
