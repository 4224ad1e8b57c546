// What one client session has prepared (PREPARE) and declared (DECLARE … CURSOR), so that a later
// EXECUTE or FETCH is decided by — and masked as — what it really runs. The proxy keeps one per
// connection and passes `lookup` as DecideContext.definitions.
import type { NamedDefinition } from '../sql/types.js';
import type { StatementDecision } from './types.js';

export class SessionDefinitions {
  private readonly byName = new Map<string, NamedDefinition>();

  /** For DecideContext.definitions. */
  readonly lookup = (namespace: NamedDefinition['namespace'], name: string): NamedDefinition | undefined =>
    this.byName.get(`${namespace}:${name}`);

  /**
   * Call once the server has run the statement successfully (CommandComplete, not ErrorResponse):
   * a PREPARE the server refused (the name exists already) must not replace what the server still
   * has under that name.
   */
  record(statement: Pick<StatementDecision, 'defines'>): void {
    const def = statement.defines;
    if (def) this.byName.set(`${def.namespace}:${def.name}`, def);
  }

  /** DEALLOCATE name / CLOSE name ran. */
  forget(namespace: NamedDefinition['namespace'], name: string): void {
    this.byName.delete(`${namespace}:${name}`);
  }

  /** DEALLOCATE ALL, CLOSE ALL, DISCARD ALL, or the end of a transaction for cursors. */
  clear(namespace?: NamedDefinition['namespace']): void {
    if (!namespace) return this.byName.clear();
    for (const key of [...this.byName.keys()]) if (key.startsWith(`${namespace}:`)) this.byName.delete(key);
  }

  get size(): number {
    return this.byName.size;
  }
}
