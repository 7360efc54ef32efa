/**
 * SQLite through `node:sqlite` (`DatabaseSync`). The API is synchronous, so every call blocks the
 * event loop for its duration: the store keeps calls small (batched inserts, chunked deletes) and
 * only background work (the log writer, the persister, pruning) calls it. WAL lets readers proceed
 * during a write; `busy_timeout` makes a second process wait for the lock instead of failing.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { Mutex, type SqlDriver, type SqlParam, type SqlQueries, type SqlRow } from '../sql/driver.ts';

export interface SqliteOptions {
  busyTimeoutMs?: number | undefined;
}

/** Open (creating the file and its folder) a database at `path`, or `:memory:`. */
export async function openSqliteDriver(path: string, opts: SqliteOptions = {}): Promise<SqlDriver> {
  if (path !== ':memory:') await mkdir(dirname(path), { recursive: true });
  const db = new DatabaseSync(path);
  try {
    db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 5000))}`);
    db.exec('PRAGMA journal_mode = WAL');
    // NORMAL is durable across process crashes in WAL mode; only an OS crash may lose the last commit.
    db.exec('PRAGMA synchronous = NORMAL');
  } catch (err) {
    db.close();
    throw err;
  }
  return new SqliteDriver(db);
}

class SqliteDriver implements SqlDriver {
  readonly dialect = 'sqlite' as const;
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  readonly #lock = new Mutex();
  /** Statements without taking the lock, for use inside `tx`. */
  readonly #direct: SqlQueries;

  constructor(db: DatabaseSync) {
    this.#db = db;
    this.#direct = {
      exec: async (sql) => { this.#db.exec(sql); },
      all: async (sql, params = []) => this.#prepare(sql).all(...params) as SqlRow[],
      run: async (sql, params = []) => Number(this.#prepare(sql).run(...params).changes),
    };
  }

  exec(sql: string): Promise<void> {
    return this.#lock.run(() => this.#direct.exec(sql));
  }

  all(sql: string, params?: readonly SqlParam[]): Promise<SqlRow[]> {
    return this.#lock.run(() => this.#direct.all(sql, params));
  }

  run(sql: string, params?: readonly SqlParam[]): Promise<number> {
    return this.#lock.run(() => this.#direct.run(sql, params));
  }

  tx<T>(fn: (q: SqlQueries) => Promise<T>): Promise<T> {
    return this.#lock.run(async () => {
      this.#db.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(this.#direct);
        this.#db.exec('COMMIT');
        return result;
      } catch (err) {
        if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
        throw err;
      }
    });
  }

  close(): Promise<void> {
    return this.#lock.run(() => {
      if (!this.#db.isOpen) return;
      this.#statements.clear();
      this.#db.close();
    });
  }

  /** Prepared statements are cached by SQL text; the set of texts is bounded (fixed SQL plus one per batch size). */
  #prepare(sql: string): StatementSync {
    let stmt = this.#statements.get(sql);
    if (!stmt) {
      stmt = this.#db.prepare(sql);
      this.#statements.set(sql, stmt);
    }
    return stmt;
  }
}
