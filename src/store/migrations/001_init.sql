-- The first schema. Written once for SQLite and Postgres: timestamps are BIGINT milliseconds since
-- the epoch, booleans INTEGER 0/1, JSON documents TEXT. `{{serial_pk}}` and `{{double}}` are
-- replaced per dialect by src/store/sql/migrate.ts.

CREATE TABLE client_keys (
  id TEXT PRIMARY KEY,
  name TEXT,
  -- SHA-256 of the key (hex); the plaintext is never stored.
  hash TEXT NOT NULL UNIQUE,
  prefix TEXT NOT NULL UNIQUE,
  limits TEXT NOT NULL,
  models TEXT,
  budget_tokens TEXT,
  expires_at BIGINT,
  created_at BIGINT NOT NULL,
  last_used_at BIGINT,
  revoked_at BIGINT
);

CREATE TABLE entities (
  kind TEXT NOT NULL,
  id TEXT NOT NULL,
  body TEXT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (kind, id)
);

-- One row; bumped in the same transaction as every entity or key change.
CREATE TABLE config_version (
  id INTEGER PRIMARY KEY,
  version BIGINT NOT NULL
);
INSERT INTO config_version (id, version) VALUES (1, 0);

CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE TABLE counters (
  key TEXT PRIMARY KEY,
  value {{double}} NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX counters_expires_at ON counters (expires_at);

CREATE TABLE breakers (
  endpoint TEXT PRIMARY KEY,
  snapshot TEXT NOT NULL,
  expires_at BIGINT NOT NULL
);

CREATE TABLE request_log (
  -- Insertion order: the tie-breaker for equal `ts` and the handle for maxRows pruning.
  seq {{serial_pk}},
  id TEXT NOT NULL,
  ts BIGINT NOT NULL,
  principal TEXT,
  route TEXT,
  model TEXT,
  upstream_model TEXT,
  provider TEXT,
  endpoint TEXT,
  status INTEGER NOT NULL,
  failure_class TEXT,
  attempts INTEGER NOT NULL,
  latency_ms INTEGER NOT NULL,
  ttft_ms INTEGER,
  prompt_tokens INTEGER,
  completion_tokens INTEGER,
  stream INTEGER NOT NULL,
  error TEXT
);
CREATE INDEX request_log_ts ON request_log (ts);
CREATE INDEX request_log_provider_ts ON request_log (provider, ts);
