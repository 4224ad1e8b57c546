// Reads the audit log's JSON lines for the summary (the chain is verified separately first).
import { readFileSync } from 'node:fs';
import type { AuditLine } from '../audit/types.js';

export function readAuditLines(path: string): AuditLine[] {
  const out: AuditLine[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as AuditLine);
    } catch {
      // A torn last line (the proxy was killed mid-write) is reported by verification, not here.
    }
  }
  return out;
}
