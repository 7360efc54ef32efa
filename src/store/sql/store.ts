/**
 * The `Store` on a SQL database; the SQLite and Postgres adapters differ only in their `SqlDriver`.
 * Contracts are documented on the interface in ../types.ts.
 */
import { randomUUID } from 'node:crypto';
import { generateKey, hashKey } from '../keys.ts';
import type {
  BreakerEntry, ClientKeyRecord, CounterEntry, CreatedClientKey, EntityKind, EntityRecord, JsonValue, LogQuery,
  NewClientKey, PruneOptions, RequestLogRow, StatsResult, Store,
} from '../types.ts';
import { insertMany, type SqlDriver, type SqlQueries } from './driver.ts';
import * as logs from './logs.ts';
import { jsonParam, keyFromRow } from './rows.ts';

const BUMP_VERSION = 'UPDATE config_version SET version = version + 1 WHERE id = 1 RETURNING version';

async function bumpVersion(q: SqlQueries): Promise<number> {
  const rows = await q.all(BUMP_VERSION);
  return Number(rows[0]?.['version'] ?? 0);
}

export class SqlStore implements Store {
  readonly kind: string;
  readonly #db: SqlDriver;
  readonly #now: () => number;
  #closed = false;

  constructor(db: SqlDriver, now: () => number = Date.now) {
    this.#db = db;
    this.kind = db.dialect;
    this.#now = now;
  }

  /** The driver, open. Every public method (all async, so this becomes a rejection) goes through here. */
  get #open(): SqlDriver {
    if (this.#closed) throw new Error(`the ${this.kind} store is closed`);
    return this.#db;
  }

  async createKey(input: NewClientKey): Promise<CreatedClientKey> {
    const db = this.#open;
    const id = randomUUID();
    const createdAt = this.#now();
    return db.tx(async (q) => {
      // Prefixes are 48 random bits, so a clash is vanishingly rare; retrying keeps them unique anyway.
      let made = generateKey();
      for (let i = 0; i < 5 && (await q.all('SELECT 1 FROM client_keys WHERE prefix = ?', [made.prefix])).length > 0; i++) {
        made = generateKey();
      }
      await q.run(
        `INSERT INTO client_keys (id, name, hash, prefix, limits, models, budget_tokens, expires_at, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [id, input.name ?? null, hashKey(made.key), made.prefix, JSON.stringify(input.limits ?? {}),
          jsonParam(input.models), jsonParam(input.budgetTokens), input.expiresAt ?? null, createdAt],
      );
      await bumpVersion(q);
      return { id, key: made.key, prefix: made.prefix };
    });
  }

  async findKeyByHash(hash: string): Promise<ClientKeyRecord | undefined> {
    const rows = await this.#open.all('SELECT * FROM client_keys WHERE hash = ? AND revoked_at IS NULL', [hash]);
    return rows[0] ? keyFromRow(rows[0]) : undefined;
  }

  async listKeys(): Promise<ClientKeyRecord[]> {
    return (await this.#open.all('SELECT * FROM client_keys ORDER BY created_at DESC, id')).map(keyFromRow);
  }

  async revokeKey(idOrPrefix: string): Promise<boolean> {
    const at = this.#now();
    return this.#open.tx(async (q) => {
      const n = await q.run(
        'UPDATE client_keys SET revoked_at = ? WHERE (id = ? OR prefix = ?) AND revoked_at IS NULL',
        [at, idOrPrefix, idOrPrefix],
      );
      if (n > 0) await bumpVersion(q);
      return n > 0;
    });
  }

  async touchKey(id: string, at: number): Promise<void> {
    await this.#open.run('UPDATE client_keys SET last_used_at = ? WHERE id = ?', [at, id]);
  }

  async listEntities(kind: EntityKind): Promise<EntityRecord[]> {
    const rows = await this.#open.all('SELECT id, body, updated_at FROM entities WHERE kind = ?', [kind]);
    const out = rows.map((r) => ({ id: String(r['id']), body: JSON.parse(String(r['body'])) as JsonValue, updatedAt: Number(r['updated_at']) }));
    // Sorted here, by code point: Postgres' ORDER BY follows the server's collation, which varies.
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async putEntity(kind: EntityKind, id: string, body: JsonValue): Promise<number> {
    const at = this.#now();
    return this.#open.tx(async (q) => {
      await q.run(
        `INSERT INTO entities (kind, id, body, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at`,
        [kind, id, JSON.stringify(body), at],
      );
      return bumpVersion(q);
    });
  }

  async deleteEntity(kind: EntityKind, id: string): Promise<boolean> {
    return this.#open.tx(async (q) => {
      const n = await q.run('DELETE FROM entities WHERE kind = ? AND id = ?', [kind, id]);
      if (n > 0) await bumpVersion(q);
      return n > 0;
    });
  }

  async configVersion(): Promise<number> {
    const rows = await this.#open.all('SELECT version FROM config_version WHERE id = 1');
    return Number(rows[0]?.['version'] ?? 0);
  }

  async saveCounters(entries: CounterEntry[]): Promise<void> {
    const now = this.#now();
    await this.#open.tx(async (q) => {
      await insertMany(q, 'counters', ['key', 'value', 'expires_at'], entries.map((e) => [e.key, e.value, e.expiresAt]),
        'ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at', 200);
      await q.run('DELETE FROM counters WHERE expires_at <= ?', [now]);
    });
  }

  async loadCounters(now = this.#now()): Promise<CounterEntry[]> {
    const rows = await this.#open.all('SELECT key, value, expires_at FROM counters WHERE expires_at > ? ORDER BY key', [now]);
    return rows.map((r) => ({ key: String(r['key']), value: Number(r['value']), expiresAt: Number(r['expires_at']) }));
  }

  async saveBreakers(entries: BreakerEntry[]): Promise<void> {
    await this.#open.tx(async (q) => {
      await q.run('DELETE FROM breakers');
      await insertMany(q, 'breakers', ['endpoint', 'snapshot', 'expires_at'], entries.map((e) => [e.endpoint, e.snapshot, e.expiresAt]));
    });
  }

  async loadBreakers(now = this.#now()): Promise<BreakerEntry[]> {
    const rows = await this.#open.all('SELECT endpoint, snapshot, expires_at FROM breakers WHERE expires_at > ? ORDER BY endpoint', [now]);
    return rows.map((r) => ({ endpoint: String(r['endpoint']), snapshot: String(r['snapshot']), expiresAt: Number(r['expires_at']) }));
  }

  async insertLogs(rows: RequestLogRow[]): Promise<void> {
    return logs.insertLogs(this.#open, rows);
  }

  async queryLogs(query: LogQuery): Promise<RequestLogRow[]> {
    return logs.queryLogs(this.#open, query);
  }

  async statsSince(since: number): Promise<StatsResult> {
    return logs.statsSince(this.#open, since);
  }

  async pruneLogs(opts: PruneOptions): Promise<number> {
    return logs.pruneLogs(this.#open, { ...opts, now: opts.now ?? this.#now() });
  }

  async getSetting(key: string): Promise<JsonValue | undefined> {
    const rows = await this.#open.all('SELECT value FROM settings WHERE key = ?', [key]);
    return rows[0] ? (JSON.parse(String(rows[0]['value'])) as JsonValue) : undefined;
  }

  async setSetting(key: string, value: JsonValue): Promise<void> {
    await this.#open.run(
      `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
      [key, JSON.stringify(value), this.#now()],
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#db.close();
  }
}
