/**
 * The store in process memory (`store: memory`): for tests and throwaway runs; everything is lost at
 * exit. It keeps the same contracts as the SQL stores, including copying values in and out so a
 * caller can never mutate what is stored.
 */
import { randomUUID } from 'node:crypto';
import { buildStats, STATS_SAMPLE, type StatsAggregate } from './log-stats.ts';
import { generateKey, hashKey } from './keys.ts';
import { clampLimit } from './sql/logs.ts';
import type {
  BreakerEntry, ClientKeyRecord, CounterEntry, CreatedClientKey, EntityKind, EntityRecord, JsonValue, LogQuery,
  NewClientKey, PruneOptions, RequestLogRow, StatsResult, Store,
} from './types.ts';

/**
 * The request log is capped even without pruning, so a long memory-store run cannot grow without
 * bound: the newest 100,000 rows (up to a tenth more between trims).
 */
const MAX_LOG_ROWS = 100_000;
const DAY_MS = 86_400_000;

interface LogEntry {
  seq: number;
  row: RequestLogRow;
}

function copy<T>(v: T): T {
  return structuredClone(v);
}

function matches(row: RequestLogRow, q: LogQuery): boolean {
  if (q.provider !== undefined && row.provider !== q.provider) return false;
  if (q.route !== undefined && row.route !== q.route) return false;
  if (q.status === 'ok' && row.status >= 400) return false;
  if (q.status === 'error' && row.status < 400) return false;
  if (typeof q.status === 'number' && row.status !== q.status) return false;
  if (q.since !== undefined && row.ts < q.since) return false;
  if (q.before !== undefined && row.ts >= q.before) return false;
  return true;
}

export class MemoryStore implements Store {
  readonly kind = 'memory';
  readonly #now: () => number;
  readonly #keys = new Map<string, ClientKeyRecord>();
  readonly #entities = new Map<string, EntityRecord>();
  readonly #settings = new Map<string, JsonValue>();
  readonly #counters = new Map<string, CounterEntry>();
  #breakers: BreakerEntry[] = [];
  #logs: LogEntry[] = [];
  #seq = 0;
  #version = 0;
  #closed = false;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  #check(): void {
    if (this.#closed) throw new Error('the memory store is closed');
  }

  /** The raw tables, for tests that check what is stored (for example that no plaintext key is). */
  dumpRaw(): Record<string, unknown> {
    return copy({ keys: [...this.#keys.values()], entities: [...this.#entities.values()], counters: [...this.#counters.values()] });
  }

  async createKey(input: NewClientKey): Promise<CreatedClientKey> {
    this.#check();
    const prefixes = new Set([...this.#keys.values()].map((k) => k.prefix));
    let made = generateKey();
    for (let i = 0; i < 5 && prefixes.has(made.prefix); i++) made = generateKey();
    const id = randomUUID();
    this.#keys.set(id, {
      id, name: input.name ?? null, prefix: made.prefix, hash: hashKey(made.key), limits: copy(input.limits ?? {}),
      models: copy(input.models ?? null), budgetTokens: copy(input.budgetTokens ?? null), expiresAt: input.expiresAt ?? null,
      createdAt: this.#now(), lastUsedAt: null, revokedAt: null,
    });
    this.#version++;
    return { id, key: made.key, prefix: made.prefix };
  }

  async findKeyByHash(hash: string): Promise<ClientKeyRecord | undefined> {
    this.#check();
    for (const k of this.#keys.values()) if (k.hash === hash && k.revokedAt === null) return copy(k);
    return undefined;
  }

  async listKeys(): Promise<ClientKeyRecord[]> {
    this.#check();
    return copy([...this.#keys.values()].sort((a, b) => b.createdAt - a.createdAt || a.id.localeCompare(b.id)));
  }

  async revokeKey(idOrPrefix: string): Promise<boolean> {
    this.#check();
    let hit = false;
    for (const k of this.#keys.values()) {
      if ((k.id === idOrPrefix || k.prefix === idOrPrefix) && k.revokedAt === null) {
        k.revokedAt = this.#now();
        hit = true;
      }
    }
    if (hit) this.#version++;
    return hit;
  }

  async touchKey(id: string, at: number): Promise<void> {
    this.#check();
    const k = this.#keys.get(id);
    if (k) k.lastUsedAt = at;
  }

  async listEntities(kind: EntityKind): Promise<EntityRecord[]> {
    this.#check();
    const out = [...this.#entities.entries()].filter(([k]) => k.startsWith(`${kind}\0`)).map(([, v]) => v);
    return copy(out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
  }

  async putEntity(kind: EntityKind, id: string, body: JsonValue): Promise<number> {
    this.#check();
    this.#entities.set(`${kind}\0${id}`, { id, body: copy(body), updatedAt: this.#now() });
    return ++this.#version;
  }

  async deleteEntity(kind: EntityKind, id: string): Promise<boolean> {
    this.#check();
    const hit = this.#entities.delete(`${kind}\0${id}`);
    if (hit) this.#version++;
    return hit;
  }

  async configVersion(): Promise<number> {
    this.#check();
    return this.#version;
  }

  async saveCounters(entries: CounterEntry[]): Promise<void> {
    this.#check();
    for (const e of entries) this.#counters.set(e.key, { ...e });
    const now = this.#now();
    for (const [k, e] of this.#counters) if (e.expiresAt <= now) this.#counters.delete(k);
  }

  async loadCounters(now = this.#now()): Promise<CounterEntry[]> {
    this.#check();
    return [...this.#counters.values()].filter((e) => e.expiresAt > now).map((e) => ({ ...e })).sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  async saveBreakers(entries: BreakerEntry[]): Promise<void> {
    this.#check();
    this.#breakers = entries.map((e) => ({ ...e }));
  }

  async loadBreakers(now = this.#now()): Promise<BreakerEntry[]> {
    this.#check();
    return this.#breakers.filter((e) => e.expiresAt > now).map((e) => ({ ...e }));
  }

  async insertLogs(rows: RequestLogRow[]): Promise<void> {
    this.#check();
    for (const row of rows) this.#logs.push({ seq: ++this.#seq, row: { ...row } });
    // Trimmed in steps of a tenth: copying 100,000 entries on every batch cost more than the requests.
    if (this.#logs.length > MAX_LOG_ROWS + MAX_LOG_ROWS / 10) this.#logs = this.#logs.slice(-MAX_LOG_ROWS);
  }

  async queryLogs(query: LogQuery): Promise<RequestLogRow[]> {
    this.#check();
    const hits = this.#logs.filter((e) => matches(e.row, query));
    hits.sort((a, b) => b.row.ts - a.row.ts || b.seq - a.seq);
    return hits.slice(0, clampLimit(query.limit)).map((e) => ({ ...e.row }));
  }

  async statsSince(since: number): Promise<StatsResult> {
    this.#check();
    const rows = this.#logs.filter((e) => e.row.ts >= since).map((e) => e.row);
    const agg = new Map<string, StatsAggregate>();
    for (const r of rows) {
      const provider = r.provider ?? '';
      let a = agg.get(provider);
      if (!a) agg.set(provider, (a = { provider, requests: 0, success: 0, timeouts: 0, retries: 0, promptTokens: 0, completionTokens: 0 }));
      a.requests++;
      if (r.status < 400) a.success++;
      if (r.failureClass === 'timeout') a.timeouts++;
      a.retries += Math.max(0, r.attempts - 1);
      a.promptTokens += r.promptTokens ?? 0;
      a.completionTokens += r.completionTokens ?? 0;
    }
    const sample = rows.slice(-STATS_SAMPLE).map((r) => ({ provider: r.provider ?? '', latencyMs: r.latencyMs }));
    return buildStats([...agg.values()], sample);
  }

  async pruneLogs(opts: PruneOptions): Promise<number> {
    this.#check();
    const before = this.#logs.length;
    if (opts.days !== undefined && opts.days > 0) {
      const cutoff = (opts.now ?? this.#now()) - opts.days * DAY_MS;
      this.#logs = this.#logs.filter((e) => e.row.ts >= cutoff);
    }
    if (opts.maxRows !== undefined && opts.maxRows >= 0 && this.#logs.length > opts.maxRows) {
      this.#logs = opts.maxRows === 0 ? [] : this.#logs.slice(-Math.floor(opts.maxRows));
    }
    return before - this.#logs.length;
  }

  async getSetting(key: string): Promise<JsonValue | undefined> {
    this.#check();
    const v = this.#settings.get(key);
    return v === undefined ? undefined : copy(v);
  }

  async setSetting(key: string, value: JsonValue): Promise<void> {
    this.#check();
    this.#settings.set(key, copy(value));
  }

  async close(): Promise<void> {
    this.#closed = true;
  }
}
