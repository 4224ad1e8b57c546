// `tollgate demo --tour`: the zero-set-up demo really runs (PGlite upstream, the proxy, policies/demo.yml)
// and each step ends the way the tour says.
import { describe, expect, it } from 'vitest';
import { run } from '../../src/cli/demo.js';

describe('tollgate demo --tour', () => {
  it('shows allow, mask, deny, review approved and review denied, and a verified audit log', async () => {
    const lines: string[] = [];
    const code = await run(['--tour'], (line) => lines.push(line));
    const text = lines.join('\n');
    expect(code).toBe(0);
    // Allowed read, rows intact.
    expect(text).toContain('100 | 42.00 | paid');
    // Masks: partial email, redacted ssn, and the computed lower(email) masked too.
    expect(text).toContain('Ada Lovelace | a***@example.com | ***');
    expect(text).not.toContain('ada@example.com');
    expect(text).not.toContain('123-45-6789');
    // Denials.
    expect(text).toMatch(/DELETE FROM users WHERE id = 1\n\s+→ tollgate: denied: delete on public\.users/);
    expect(text).toMatch(/SELECT 'a\\' ; DELETE FROM users; --'\n\s+→ tollgate: denied: delete on public\.users/);
    expect(text).toMatch(/pg_read_file\('\/etc\/passwd'\)\n\s+→ tollgate: denied: call on pg_catalog\.pg_read_file/);
    expect(text).toMatch(/DROP TABLE orders\n\s+→ tollgate: denied: drop on public\.orders/);
    // Review: the reviewer sees the statement without literals; first approved, second denied.
    expect(text).toContain('reviewer sees: update on public.orders — UPDATE orders SET status = $1 WHERE id = $2');
    expect(text).toMatch(/reviewer answers: approve [0-9a-f-]+\n\s+→ allowed: UPDATE 1/);
    expect(text).toMatch(/reviewer answers: deny ([0-9a-f-]+)\n\s+→ tollgate: denied: review \1 was not approved/);
    // One record per tour statement at least (connection events may add more), chain verified.
    const records = Number(/audit log .*: (\d+) records, hash chain intact/.exec(text)?.[1]);
    expect(records).toBeGreaterThanOrEqual(9);
  }, 90_000);
});
