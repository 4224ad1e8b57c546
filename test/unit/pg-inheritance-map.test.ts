// The proxy's map of partitions and inheritance children (InheritanceMap) and the check that uses it
// to withhold value-quoting error texts (objectHasMasks). A reload follows a schema change, so a
// failed reload must leave the map unknown (callers deny), never the stale answer.
import { describe, expect, it } from 'vitest';
import { InheritanceMap } from '../../src/pg/catalog.js';
import { objectHasMasks } from '../../src/daemon/server.js';
import { parsePolicy } from '../../src/policy/load.js';
import { getRole } from '../../src/policy/roles.js';

const role = getRole(
  parsePolicy(['version: 1', 'roles:', '  r:', '    match: { repository: "*" }', '    postgres:', '      rules: []', '      masks:', '        - { columns: [app.users.email], strategy: redact }', ''].join('\n'), 'p.yml'),
  'r',
);

function scripted(answers: ((string | null)[][] | Error)[]): (sql: string) => Promise<(string | null)[][]> {
  return async () => {
    const next = answers.shift();
    if (next === undefined || next instanceof Error) throw next ?? new Error('no more answers');
    return next;
  };
}

describe('InheritanceMap', () => {
  it('reports a change when a reload finds other partitions, and none when it finds the same', async () => {
    let changes = 0;
    const map = new InheritanceMap(scripted([[], [], [['app', 'users_p1', 'app', 'users']]]), () => changes++);
    await map.refresh();
    await map.refresh();
    expect(changes).toBe(0);
    await map.refresh();
    expect(changes).toBe(1);
    expect(map.ancestors('app', 'users_p1')).toEqual([{ schema: 'app', table: 'users' }]);
  });

  it('a failed reload forgets the old answer (unknown, not stale) and reports a change', async () => {
    let changes = 0;
    const map = new InheritanceMap(scripted([[], new Error('catalog connection lost'), [['app', 'late', 'app', 'users']]]), () => changes++);
    await map.refresh();
    expect(map.ancestors('app', 'late')).toEqual([]);
    await expect(map.refresh()).rejects.toThrow('catalog connection lost');
    expect(map.loaded).toBe(false);
    expect(map.ancestors('app', 'late')).toBeUndefined();
    expect(changes).toBe(1);
    await map.refresh();
    expect(map.ancestors('app', 'late')).toEqual([{ schema: 'app', table: 'users' }]);
  });
});

describe('objectHasMasks', () => {
  it('follows the partitions the map knows, and assumes masks while the map is unknown', async () => {
    const map = new InheritanceMap(scripted([[['app', 'late', 'app', 'users']], new Error('down')]));
    expect(objectHasMasks(role, 'app.late', map)).toBe(true); // not loaded yet
    await map.refresh();
    expect(objectHasMasks(role, 'app.late', map)).toBe(true);
    expect(objectHasMasks(role, 'app.orders', map)).toBe(false);
    await map.refresh().catch(() => undefined);
    expect(objectHasMasks(role, 'app.orders', map)).toBe(true);
  });
});
