/**
 * The durable store (SPEC §3 admin-made config, §6 counters that survive a restart, §7 client keys,
 * §8 request log and its retention). Three adapters implement it: SQLite (`node:sqlite`), Postgres
 * (`pg`) and memory; `test/contract/store.test.ts` runs one suite against all of them.
 *
 * Every method is async and may reject with the adapter's own error (a driver error, a lock
 * timeout, a closed store). Nothing on the request path awaits the store directly: the request log
 * goes through `RequestLogWriter`, counters through `StatePersister`, and key lookups through a
 * cache in http/. Times are milliseconds since the epoch throughout.
 */
import type { LimitsConfig } from '../config/schema.ts';

/** A value that survives `JSON.stringify` → `JSON.parse` unchanged. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };

/** `budgetTokens` of a client key: per day, or `{ day, month }`. */
export type TokenBudget = number | { day?: number | undefined; month?: number | undefined };

export interface NewClientKey {
  name?: string | undefined;
  limits?: LimitsConfig | undefined;
  /** Routes the key may call; `undefined`/`null` = all. */
  models?: string[] | null | undefined;
  budgetTokens?: TokenBudget | null | undefined;
  expiresAt?: number | null | undefined;
}

/** What `createKey` returns: the only time the plaintext key is ever visible. */
export interface CreatedClientKey {
  id: string;
  /** The plaintext key. Not stored; show it once and forget it. */
  key: string;
  /** A short, non-secret beginning of the key (`llmux-AbCd1234`), for lists and `revokeKey`. */
  prefix: string;
}

/** A client key as stored: never the plaintext, only its SHA-256 hash (hex). */
export interface ClientKeyRecord {
  id: string;
  name: string | null;
  prefix: string;
  hash: string;
  limits: LimitsConfig;
  models: string[] | null;
  budgetTokens: TokenBudget | null;
  expiresAt: number | null;
  createdAt: number;
  lastUsedAt: number | null;
  /** Set once the key is revoked; revoked keys stay listed but never authenticate. */
  revokedAt: number | null;
}

export type EntityKind = 'provider' | 'route';

export interface EntityRecord {
  id: string;
  /** The entity as the admin API saved it (already validated there). */
  body: JsonValue;
  updatedAt: number;
}

/** One persisted counter of the memory state (see state/persist.ts for the key format). */
export interface CounterEntry {
  key: string;
  value: number;
  /** After this instant the entry is meaningless and is dropped. */
  expiresAt: number;
}

/** One persisted breaker snapshot. `snapshot` is opaque JSON owned by health/. */
export interface BreakerEntry {
  endpoint: string;
  snapshot: string;
  expiresAt: number;
}

/** One finished request, as written to the request log (SPEC §8). */
export interface RequestLogRow {
  /** The request id (`x-llmux-request-id`). */
  id: string;
  /** When the request arrived. */
  ts: number;
  /** The client key's id or name; null when the gateway is open. */
  principal: string | null;
  route: string | null;
  /** The model the client asked for. */
  model: string | null;
  upstreamModel: string | null;
  provider: string | null;
  endpoint: string | null;
  /** The HTTP status the client got. */
  status: number;
  /** The failure class of the last failed attempt, when the request failed. */
  failureClass: string | null;
  attempts: number;
  latencyMs: number;
  ttftMs: number | null;
  promptTokens: number | null;
  completionTokens: number | null;
  stream: boolean;
  /** A short error message (never a key or a full upstream URL). */
  error: string | null;
}

export interface LogQuery {
  provider?: string | undefined;
  route?: string | undefined;
  /** An exact status, `'ok'` (< 400) or `'error'` (>= 400). */
  status?: number | 'ok' | 'error' | undefined;
  /** Only rows with `ts >= since`. */
  since?: number | undefined;
  /** Only rows with `ts < before`: pass the last row's `ts` to page back (rows sharing it are skipped). */
  before?: number | undefined;
  /** At most this many rows; default 100, capped at 1000. */
  limit?: number | undefined;
}

export interface LogStats {
  requests: number;
  success: number;
  failure: number;
  /** Requests whose failure class was `timeout`. */
  timeouts: number;
  /** Attempts beyond the first, summed. */
  retries: number;
  promptTokens: number;
  completionTokens: number;
  /** Percentiles over a bounded sample of the newest rows (see `statsSince`); null with no rows. */
  latencyP50: number | null;
  latencyP95: number | null;
}

export interface StatsResult {
  total: LogStats;
  /** Keyed by provider id; rows without a provider are under `''`. */
  byProvider: Record<string, LogStats>;
}

export interface PruneOptions {
  /** Delete rows older than this many days (relative to `now`). */
  days?: number | undefined;
  /** Then keep at most this many newest rows. */
  maxRows?: number | undefined;
  now?: number | undefined;
}

export interface Store {
  /** `'sqlite' | 'postgres' | 'memory'`, for logs and /admin/config/status. */
  readonly kind: string;

  /**
   * Issue a new client key. Only its SHA-256 hash and a display prefix are stored; the plaintext is
   * in the result and nowhere else. Bumps `configVersion()` so other instances drop their auth cache.
   */
  createKey(input: NewClientKey): Promise<CreatedClientKey>;
  /**
   * The key whose hash is `hash` (see `hashKey`), or `undefined` when none matches or it is revoked.
   * Expired keys are returned (check `expiresAt`), so the caller can answer `key_expired`.
   * Comparing hashes through an index lookup is the constant-time comparison: no secret byte is compared.
   */
  findKeyByHash(hash: string): Promise<ClientKeyRecord | undefined>;
  /** Every key, revoked ones included, newest first. */
  listKeys(): Promise<ClientKeyRecord[]>;
  /** Revoke by id or by display prefix. Resolves `false` when nothing matched or it was already revoked. */
  revokeKey(idOrPrefix: string): Promise<boolean>;
  /** Record a use. Callers throttle this (once a minute per key is plenty); it does not bump the version. */
  touchKey(id: string, at: number): Promise<void>;

  /** Providers or routes made through the admin API, ordered by id. */
  listEntities(kind: EntityKind): Promise<EntityRecord[]>;
  /** Create or replace an entity; resolves the new `configVersion()`. */
  putEntity(kind: EntityKind, id: string, body: JsonValue): Promise<number>;
  /** Resolves `false` when there was nothing to delete (the version is then unchanged). */
  deleteEntity(kind: EntityKind, id: string): Promise<boolean>;
  /**
   * A counter bumped by every change to entities and keys, in the same transaction as the change.
   * Other instances poll it and reload when it moved. Starts at 0.
   */
  configVersion(): Promise<number>;

  /** Upsert counters by key, and drop the expired ones. */
  saveCounters(entries: CounterEntry[]): Promise<void>;
  /** Every counter not yet expired at `now` (default: the current time). */
  loadCounters(now?: number): Promise<CounterEntry[]>;
  /** Replace the whole set of breaker snapshots with `entries` (endpoints absent are removed). */
  saveBreakers(entries: BreakerEntry[]): Promise<void>;
  /** Every breaker snapshot not yet expired at `now`. */
  loadBreakers(now?: number): Promise<BreakerEntry[]>;

  /** Append rows in one transaction. Rejects as a whole; the writer retries the batch. */
  insertLogs(rows: RequestLogRow[]): Promise<void>;
  /** Matching rows, newest first (by `ts`, then by insertion). */
  queryLogs(query: LogQuery): Promise<RequestLogRow[]>;
  /**
   * Totals of the rows with `ts >= since`. Counts and token sums are exact; latency percentiles are
   * computed from the newest 5000 rows of that range, which keeps the call cheap on a big log.
   */
  statsSince(since: number): Promise<StatsResult>;
  /**
   * Delete rows older than `days`, then the oldest beyond `maxRows`. Deletes in chunks so SQLite
   * never holds the event loop for long. Resolves the number of rows deleted.
   */
  pruneLogs(opts: PruneOptions): Promise<number>;

  /** A setting saved by the admin API (for example the debug toggle); `undefined` when unset. */
  getSetting(key: string): Promise<JsonValue | undefined>;
  setSetting(key: string, value: JsonValue): Promise<void>;

  /** Release the connection(s). Idempotent; every other method rejects afterwards. */
  close(): Promise<void>;
}

export interface OpenStoreOptions {
  /** Postgres: the schema to use (created if missing). Default: the server's search_path. */
  schema?: string | undefined;
  /** Postgres: pool size (default 10). */
  poolSize?: number | undefined;
  /** SQLite: how long a writer waits for a lock before failing (default 5000 ms). */
  busyTimeoutMs?: number | undefined;
  /** Source of `now` for timestamps the store sets itself (`createdAt`, `updatedAt`). */
  now?: (() => number) | undefined;
}
