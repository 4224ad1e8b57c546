// Prometheus metrics of one replica (prom-client), served on the admin listener. A registry per
// gateway instance (not the library's global one), so tests can run several in one process.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly sessionsOpened = new Counter({ name: 'tollgate_sessions_opened_total', help: 'Sessions opened by this replica, by role', labelNames: ['role'], registers: [this.registry] });
  readonly sessionsEnded = new Counter({ name: 'tollgate_sessions_ended_total', help: 'Sessions ended through this replica, by who ended them', labelNames: ['by'], registers: [this.registry] });
  readonly sessionsLive = new Gauge({ name: 'tollgate_sessions_live', help: 'Sessions not ended and not expired (state store, all replicas)', registers: [this.registry] });
  readonly connections = new Gauge({ name: 'tollgate_postgres_connections', help: 'Open PostgreSQL client connections on this replica', registers: [this.registry] });
  readonly statements = new Counter({ name: 'tollgate_statements_total', help: 'Statements decided, by decision', labelNames: ['decision'], registers: [this.registry] });
  readonly decisionSeconds = new Histogram({
    name: 'tollgate_decision_seconds',
    help: 'Time to decide a statement (parse, policy, masks)',
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
    registers: [this.registry],
  });
  readonly approvalsPending = new Gauge({ name: 'tollgate_approvals_pending', help: 'Statements held for approval on this replica', registers: [this.registry] });
  readonly auditWriteSeconds = new Histogram({
    name: 'tollgate_audit_write_seconds',
    help: 'Time from a record being ready to it being durable in the state store (audit write lag)',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1],
    registers: [this.registry],
  });
  readonly refusals = new Counter({ name: 'tollgate_refusals_total', help: 'Requests refused, by code', labelNames: ['code'], registers: [this.registry] });
  readonly httpRequests = new Counter({ name: 'tollgate_http_requests_total', help: 'API requests, by route and status', labelNames: ['route', 'status'], registers: [this.registry] });
  readonly stateStoreUp = new Gauge({ name: 'tollgate_state_store_up', help: '1 when the last check reached the state store', registers: [this.registry] });
}
