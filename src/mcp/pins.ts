// Tool pinning: a tool definition that changes under an agent (its description rewritten with new
// instructions, its schema widened) is a known attack, so a pinned tool whose definition differs is
// denied until the policy is updated. The hash covers everything a client shows or acts on: name,
// title, description, input and output schema, annotations (a flipped readOnlyHint can make a client
// auto-approve). Canonical JSON (sorted keys) so key order never changes the hash.
import { createHash } from 'node:crypto';
import { canonicalJson } from '../audit/canonical.js';
import type { McpServerPolicy } from './policy.js';

export interface ToolDefinition {
  name: string;
  title?: unknown;
  description?: unknown;
  inputSchema?: unknown;
  outputSchema?: unknown;
  annotations?: unknown;
}

/** `sha256:<hex>` of the tool's definition. */
export function toolHash(tool: ToolDefinition): string {
  const body = {
    name: tool.name,
    title: tool.title ?? null,
    description: tool.description ?? null,
    inputSchema: tool.inputSchema ?? null,
    outputSchema: tool.outputSchema ?? null,
    annotations: tool.annotations ?? null,
  };
  return `sha256:${createHash('sha256').update(canonicalJson(body)).digest('hex')}`;
}

export type PinCheck = { ok: true; hash: string } | { ok: false; hash: string; reason: string };

/** The pins of one server for one session: the policy's hashes, and (pin: session) first sightings. */
export class PinBook {
  private readonly seen = new Map<string, string>();

  constructor(private readonly server: McpServerPolicy) {}

  /** Checks a definition as listed by the server now; under `pin: session` the first sighting pins it. */
  check(tool: ToolDefinition): PinCheck {
    const hash = toolHash(tool);
    const pinned = this.server.pins.get(tool.name);
    if (pinned !== undefined) {
      return pinned === hash
        ? { ok: true, hash }
        : { ok: false, hash, reason: `the definition of tool ${JSON.stringify(tool.name)} changed: it hashes to ${hash}, the policy pins ${pinned}` };
    }
    if (this.server.pin === 'policy') {
      return { ok: false, hash, reason: `tool ${JSON.stringify(tool.name)} has no pinned hash in the policy (pin: policy); its definition hashes to ${hash}` };
    }
    if (this.server.pin === 'session') {
      const first = this.seen.get(tool.name);
      if (first === undefined) this.seen.set(tool.name, hash);
      else if (first !== hash) {
        return { ok: false, hash, reason: `the definition of tool ${JSON.stringify(tool.name)} changed since its first listing in this session (${first} → ${hash})` };
      }
    }
    return { ok: true, hash };
  }
}
