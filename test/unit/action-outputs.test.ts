import { describe, expect, it } from 'vitest';
import { clientHost, gatewayUrl } from '../../src/action/outputs.js';

describe('gateway address for later steps', () => {
  it('dials loopback when the proxy listens on a wildcard address', () => {
    expect(clientHost('0.0.0.0')).toBe('127.0.0.1');
    expect(clientHost('::')).toBe('::1');
    expect(clientHost('127.0.0.1')).toBe('127.0.0.1');
  });

  it('builds DATABASE_URL with the secret and database encoded, IPv6 in brackets, TLS off on loopback', () => {
    expect(gatewayUrl({ host: '127.0.0.1', port: 6432, database: 'shop', secret: 'abc_-9' })).toBe('postgres://tollgate:abc_-9@127.0.0.1:6432/shop?sslmode=disable');
    expect(gatewayUrl({ host: '::', port: 5433, database: 'my db', secret: 'a/b+c' })).toBe('postgres://tollgate:a%2Fb%2Bc@[::1]:5433/my%20db?sslmode=disable');
  });
});
