// What every part of one running gateway shares: its config, the state store, metrics, a logger, a
// clock, and whether it is draining.
import type { GatewayConfig } from './config.js';
import type { GatewayMetrics } from './metrics.js';
import type { Store } from './store.js';

export interface GatewayLogger {
  info(message: string): void;
  warn(message: string): void;
}

export interface GatewayContext {
  config: GatewayConfig;
  store: Store;
  metrics: GatewayMetrics;
  logger: GatewayLogger;
  now: () => Date;
  /** True once SIGTERM arrived: no new sessions, readiness fails, running work finishes. */
  draining: boolean;
  /** Ends a session's live connections on this replica (the PostgreSQL listener registers it). */
  onSessionEnded: (id: string) => void;
}

export const stderrLogger: GatewayLogger = {
  info: (m) => process.stderr.write(`${m}\n`),
  warn: (m) => process.stderr.write(`${m}\n`),
};
