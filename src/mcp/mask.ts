// Masks what a server returns before the agent sees it: JSON fields the policy names, the output
// columns an SQL argument's decision masks, and secrets (built-in token and key shapes, the policy's
// patterns, the wrapper's own secrets) in every string. A result over the size bound is refused, not
// cut: a truncated JSON document can still leak what it holds. Text content that holds JSON is
// masked as JSON (servers commonly return rows or objects that way).
import { maskValue, OID } from '../pg/mask-values.js';
import type { MaskStrategy } from '../policy/types.js';
import type { McpFieldMask } from './policy.js';

/** Token and key shapes replaced in every string of a result, whatever the policy says. */
export const BUILTIN_SECRET_PATTERNS: readonly RegExp[] = [
  /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g,
  /\bgh[pousr]_[A-Za-z0-9]{36,255}\b/g,
  /\bgithub_pat_[A-Za-z0-9_]{22,255}\b/g,
  /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g,
  /\bxox[abposr]-[A-Za-z0-9-]{10,}\b/g,
  /\b[rs]k_live_[0-9A-Za-z]{16,}\b/g,
  /\bAIza[0-9A-Za-z_-]{35}\b/g,
  /\bglpat-[0-9A-Za-z_-]{20,}\b/g,
  /\bnpm_[A-Za-z0-9]{36}\b/g,
  /\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g,
  // The password of a connection URL: scheme://user:PASSWORD@host
  /(?<=\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]+(?=@)/g,
];
export const SECRET_MARK = '[secret]';

export interface MaskOptions {
  fieldMasks: readonly McpFieldMask[];
  /** SQL output column → strategy (from the SQL argument's decision). */
  sqlMasks?: ReadonlyMap<string, MaskStrategy>;
  /** Every output column name of the SQL, or null when unknown: row keys outside it refuse a masked result. */
  sqlOutputs?: ReadonlySet<string> | null;
  secretPatterns: readonly RegExp[];
  /** Literal secrets (session secret, mask key, upstream credentials). */
  secrets: readonly string[];
  maskKey: Buffer;
  maxBytes: number;
}

export interface MaskReport {
  maskedFields: number;
  secrets: number;
  resultBytes: number;
}

export class ResultRefused extends Error {
  override readonly name = 'ResultRefused';
}

function maskJsonValue(strategy: MaskStrategy, v: unknown, key: Buffer): unknown {
  if (v === null || v === undefined) return v;
  if (strategy === 'null') return null;
  const text = typeof v === 'string' ? v : JSON.stringify(v);
  if (typeof v !== 'string' && strategy === 'partial') return '***';
  const out = maskValue(strategy, Buffer.from(text, 'utf8'), 0, OID.text, key);
  return out === null ? null : out.toString('utf8');
}

class Masker {
  readonly report: MaskReport = { maskedFields: 0, secrets: 0, resultBytes: 0 };
  private readonly literal: string[];

  constructor(private readonly o: MaskOptions) {
    this.literal = [...new Set(o.secrets.filter((s) => s.length >= 4))].sort((a, b) => b.length - a.length);
  }

  scrub(text: string): string {
    let out = text;
    for (const s of this.literal) {
      if (out.includes(s)) {
        this.report.secrets += out.split(s).length - 1;
        out = out.split(s).join(SECRET_MARK);
      }
    }
    for (const re of [...BUILTIN_SECRET_PATTERNS, ...this.o.secretPatterns]) {
      re.lastIndex = 0;
      out = out.replace(re, () => {
        this.report.secrets++;
        return SECRET_MARK;
      });
    }
    return out;
  }

  private fieldStrategy(key: string, path: string): MaskStrategy | null {
    for (const m of this.o.fieldMasks) {
      for (const g of m.fields) {
        if (g.source.includes('.') ? g.test(path) : g.test(key)) return m.strategy;
      }
    }
    return null;
  }

  /** Masks a JSON value: policy fields anywhere, SQL columns in rows, secrets in every string. */
  json(v: unknown, path: string, rows: boolean): unknown {
    if (typeof v === 'string') return this.scrub(v);
    if (v === null || typeof v !== 'object') return v;
    if (Array.isArray(v)) return v.map((x) => this.json(x, path, rows));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      const p = path ? `${path}.${k}` : k;
      const strategy = this.fieldStrategy(k, p) ?? (rows ? this.o.sqlMasks?.get(k) ?? null : null);
      if (strategy) {
        this.report.maskedFields++;
        out[this.scrub(k)] = maskJsonValue(strategy, x, this.o.maskKey);
      } else out[this.scrub(k)] = this.json(x, p, rows);
    }
    return out;
  }

  /** The rows of an SQL result: an array of objects, or `{rows: [...]}`; null when neither. */
  private sqlRows(doc: unknown): Record<string, unknown>[] | null {
    const arr = Array.isArray(doc) ? doc : doc && typeof doc === 'object' ? (doc as { rows?: unknown }).rows : undefined;
    if (!Array.isArray(arr) || !arr.every((r) => r !== null && typeof r === 'object' && !Array.isArray(r))) return null;
    return arr as Record<string, unknown>[];
  }

  /** Text content: JSON masked as JSON (keeping its layout style), anything else scrubbed. */
  text(text: string): string {
    const sqlMasked = (this.o.sqlMasks?.size ?? 0) > 0;
    const trimmed = text.trimStart();
    let doc: unknown;
    let isJson = false;
    if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
      try {
        doc = JSON.parse(text);
        isJson = true;
      } catch {
        isJson = false;
      }
    }
    if (!isJson) {
      if (sqlMasked) throw new ResultRefused('the SQL result has masked columns but the server did not return it as JSON rows, so they cannot be found');
      return this.scrub(text);
    }
    if (sqlMasked) {
      const rows = this.sqlRows(doc);
      if (rows === null) throw new ResultRefused('the SQL result has masked columns but is not a JSON array of rows, so they cannot be found');
      const known = this.o.sqlOutputs;
      for (const r of rows) {
        for (const k of Object.keys(r)) {
          if (!known || !known.has(k)) throw new ResultRefused(`the SQL result has a column ${JSON.stringify(k)} the statement's analysis does not name, so its masks cannot be trusted`);
        }
      }
    }
    const masked = this.json(doc, '', sqlMasked);
    return JSON.stringify(masked, null, text.includes('\n') ? 2 : undefined);
  }
}

function byteLength(v: unknown): number {
  return Buffer.byteLength(JSON.stringify(v) ?? '', 'utf8');
}

/**
 * Masks a result (tools/call, resources/read, prompts/get) in a copy. Throws ResultRefused when the
 * result is over the bound or masks cannot be applied with certainty.
 */
export function maskResult<T>(result: T, o: MaskOptions): { result: T; report: MaskReport } {
  const size = byteLength(result);
  if (size > o.maxBytes) throw new ResultRefused(`the result is ${size} bytes, over the policy's max_result_bytes of ${o.maxBytes}`);
  const m = new Masker(o);
  m.report.resultBytes = size;
  const walk = (v: unknown, path: string): unknown => {
    if (Array.isArray(v)) return v.map((x) => walk(x, path));
    if (v === null || typeof v !== 'object') return typeof v === 'string' ? m.scrub(v) : v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (k === 'text' && typeof x === 'string') out[k] = m.text(x);
      else if (k === 'structuredContent') out[k] = m.json(x, '', (o.sqlMasks?.size ?? 0) > 0);
      else out[m.scrub(k)] = walk(x, path);
    }
    return out;
  };
  return { result: walk(result, '') as T, report: m.report };
}

/** Secrets scrubbed from a string (server instructions, log messages, error texts). */
export function scrubText(text: string, o: Pick<MaskOptions, 'secretPatterns' | 'secrets'>): string {
  return new Masker({ fieldMasks: [], secretPatterns: o.secretPatterns, secrets: o.secrets, maskKey: Buffer.alloc(32), maxBytes: Infinity }).scrub(text);
}
