/**
 * Postgres through a `pg` Pool. Several gateway instances share one database (SPEC §11), so every
 * read-modify-write is one statement or one transaction, and migrations take an advisory lock.
 */
import pg from 'pg';
import type { PoolClient } from 'pg';
import { type SqlDriver, type SqlParam, type SqlQueries, type SqlRow } from '../sql/driver.ts';

export interface PostgresOptions {
  /** Use this schema (created if missing) instead of the server's default search_path. */
  schema?: string | undefined;
  poolSize?: number | undefined;
}

const INT8 = 20;
const NUMERIC = 1700;

/**
 * int8 and numeric come back from pg as strings (they may exceed 2^53). Ours are counts, sums and
 * millisecond timestamps, all far below that, so parse them as numbers; scoped to this pool, not
 * the process-wide `pg.types`.
 */
const numberTypes: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === INT8 || oid === NUMERIC) return (v: string) => Number(v);
    return format === 'binary' ? pg.types.getTypeParser(oid, 'binary') : pg.types.getTypeParser(oid, 'text');
  }) as pg.CustomTypesConfig['getTypeParser'],
};

const schemaPattern = /^[a-z_][a-z0-9_]{0,62}$/i;

export async function openPostgresDriver(url: string, opts: PostgresOptions = {}): Promise<SqlDriver> {
  if (opts.schema !== undefined && !schemaPattern.test(opts.schema)) {
    throw new Error(`invalid Postgres schema name "${opts.schema}" (letters, digits and "_")`);
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.poolSize ?? 10,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
    // A hung statement must not hold a pooled connection (and a background job) forever.
    statement_timeout: 30_000,
    // Idle pooled connections must not keep a finished CLI command (or test) alive.
    allowExitOnIdle: true,
    types: numberTypes,
    ...(opts.schema ? { options: `-c search_path=${opts.schema}` } : {}),
  });
  // An idle client that loses its connection (server restart) emits here; without a listener that
  // would crash the process. The pool drops the client and the next query reconnects.
  pool.on('error', () => undefined);
  try {
    if (opts.schema) await pool.query(`CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(opts.schema)}`);
    else await pool.query('SELECT 1');
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
  return new PostgresDriver(pool);
}

/** `?` → `$1, $2, …`. Our SQL never has a `?` inside a literal, so a plain scan is exact. */
const numbered = new Map<string, string>();
function toPg(sql: string): string {
  let out = numbered.get(sql);
  if (out === undefined) {
    let n = 0;
    out = sql.replace(/\?/g, () => `$${++n}`);
    if (numbered.size < 1000) numbered.set(sql, out);
  }
  return out;
}

function queriesOn(c: pg.Pool | PoolClient): SqlQueries {
  return {
    exec: async (sql) => { await c.query(sql); },
    all: async (sql, params = []) => (await c.query(toPg(sql), params as SqlParam[])).rows as SqlRow[],
    run: async (sql, params = []) => (await c.query(toPg(sql), params as SqlParam[])).rowCount ?? 0,
  };
}

class PostgresDriver implements SqlDriver {
  readonly dialect = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #q: SqlQueries;
  #closed = false;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
    this.#q = queriesOn(pool);
  }

  exec(sql: string): Promise<void> {
    return this.#q.exec(sql);
  }

  all(sql: string, params?: readonly SqlParam[]): Promise<SqlRow[]> {
    return this.#q.all(sql, params);
  }

  run(sql: string, params?: readonly SqlParam[]): Promise<number> {
    return this.#q.run(sql, params);
  }

  async tx<T>(fn: (q: SqlQueries) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    let broken: unknown;
    try {
      await client.query('BEGIN');
      const result = await fn(queriesOn(client));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      // If ROLLBACK itself fails the connection is unusable: destroy it rather than return it.
      await client.query('ROLLBACK').catch((e: unknown) => { broken = e; });
      throw err;
    } finally {
      client.release(broken instanceof Error ? broken : undefined);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }
}
