// The state store's schema, as numbered steps. `tollgate gateway migrate` applies the steps a
// database has not had yet, each in its own transaction under an advisory lock (two replicas that
// migrate at once do not race), and records them in tollgate.schema_migrations. A step is never
// edited once released: a change is a new step.

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'sessions, audit chains, signed heads, single-use tokens, refusals',
    sql: `
      CREATE TABLE tollgate.sessions (
        id text PRIMARY KEY,
        -- SHA-256 of the secret (256 random bits: a fast hash is enough) for the HTTP API, and the
        -- SCRAM verifier for the PostgreSQL listener: neither lets a reader of a dump log in.
        secret_sha256 bytea NOT NULL,
        scram_salt bytea NOT NULL,
        scram_iterations integer NOT NULL,
        scram_stored_key bytea NOT NULL,
        scram_server_key bytea NOT NULL,
        role text NOT NULL,
        upstream text NOT NULL,
        identity jsonb NOT NULL,
        pull_request integer,
        head_sha text,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        ended_at timestamptz,
        ended_by text,
        -- The chain's head, kept with the session so appends from any replica serialize on this row.
        chain_seq bigint NOT NULL DEFAULT 0,
        chain_head text NOT NULL DEFAULT '${'0'.repeat(64)}'
      );
      CREATE INDEX sessions_live ON tollgate.sessions (expires_at) WHERE ended_at IS NULL;
      CREATE TABLE tollgate.audit_records (
        session text NOT NULL REFERENCES tollgate.sessions (id),
        seq bigint NOT NULL,
        hash text NOT NULL,
        line text NOT NULL,
        PRIMARY KEY (session, seq)
      );
      CREATE TABLE tollgate.chain_heads (
        session text PRIMARY KEY REFERENCES tollgate.sessions (id),
        seq bigint NOT NULL,
        head text NOT NULL,
        key_id text NOT NULL,
        signature text NOT NULL,
        signed_at timestamptz NOT NULL
      );
      -- An OIDC token is exchanged once: its jti is kept until it expires.
      CREATE TABLE tollgate.oidc_tokens (
        jti text PRIMARY KEY,
        expires_at timestamptz NOT NULL
      );
      -- Refused requests that belong to no session (bad tokens, bad secrets): recorded, never lost.
      CREATE TABLE tollgate.refusals (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        what text NOT NULL,
        code text NOT NULL,
        detail text NOT NULL,
        remote text
      );
    `,
  },
  {
    version: 2,
    name: 'approvals held by any replica, webhook deliveries',
    sql: `
      CREATE TABLE tollgate.approvals (
        id text PRIMARY KEY,
        session text NOT NULL REFERENCES tollgate.sessions (id),
        status text NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'timed_out')),
        repository text NOT NULL,
        pull_request integer,
        head_sha text,
        actor text NOT NULL,
        pr_author text,
        approvers jsonb,
        check_run_id bigint,
        name text NOT NULL,
        requested_at timestamptz NOT NULL,
        deadline timestamptz NOT NULL,
        decided_at timestamptz,
        approver text,
        via text,
        reason text,
        answer_url text
      );
      CREATE INDEX approvals_check_run ON tollgate.approvals (check_run_id);
      CREATE INDEX approvals_pending ON tollgate.approvals (session) WHERE status = 'pending';
      -- A webhook delivery is acted on once: a replayed one (same X-GitHub-Delivery) is dropped.
      CREATE TABLE tollgate.webhook_deliveries (
        id text PRIMARY KEY,
        event text NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now()
      );
    `,
  },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
