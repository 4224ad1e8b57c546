import { describe, expect, it } from 'vitest';
import { isExpired, newSession } from '../../src/identity/session.js';

describe('newSession', () => {
  it('has a 12-char id, a 256-bit base64url secret and the expiry ttl from now', () => {
    const now = new Date('2026-11-30T04:00:00.000Z');
    const s = newSession(15 * 60_000, now);
    expect(s.id).toMatch(/^[A-Za-z0-9_-]{12}$/);
    expect(s.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(s.secret, 'base64url')).toHaveLength(32);
    expect(s.expiresAt.toISOString()).toBe('2026-11-30T04:15:00.000Z');
  });

  it('is random every time', () => {
    const sessions = Array.from({ length: 200 }, () => newSession(1000));
    expect(new Set(sessions.map((s) => s.id)).size).toBe(200);
    expect(new Set(sessions.map((s) => s.secret)).size).toBe(200);
  });

  it.each([0, -1, 1.5, Number.NaN, Infinity])('refuses ttl %s', (ttl) => {
    expect(() => newSession(ttl)).toThrow(TypeError);
  });

  it('expires at its time', () => {
    const s = newSession(1000, new Date(0));
    expect(isExpired(s, new Date(999))).toBe(false);
    expect(isExpired(s, new Date(1000))).toBe(true);
  });
});
