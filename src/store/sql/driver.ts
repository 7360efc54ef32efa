/**
 * The little a SQL store needs from a database, so one `SqlStore` serves SQLite and Postgres. SQL is
 * written once with `?` placeholders in the dialect both accept (upsert via `ON CONFLICT … DO
 * UPDATE`, `RETURNING`); the Postgres driver renumbers placeholders to `$n`. Integers come back as
 * JS numbers from both drivers (the Postgres one parses int8/numeric itself).
 */

export type SqlParam = string | number | null;
export type SqlRow = Record<string, unknown>;

/** Statements run on one connection (inside a transaction, or on the driver itself). */
export interface SqlQueries {
  /** Run parameterless SQL that may hold several statements (migrations). */
  exec(sql: string): Promise<void>;
  /** All result rows. */
  all(sql: string, params?: readonly SqlParam[]): Promise<SqlRow[]>;
  /** Rows affected. */
  run(sql: string, params?: readonly SqlParam[]): Promise<number>;
}

export interface SqlDriver extends SqlQueries {
  readonly dialect: 'sqlite' | 'postgres';
  /**
   * Run `fn` in one transaction: committed when it resolves, rolled back when it rejects (and the
   * rejection passed on). Statements for the transaction must go through the `q` it is given.
   * SQLite takes the write lock up front (`BEGIN IMMEDIATE`) so a transaction never fails half-way
   * on SQLITE_BUSY; the driver also serialises its callers, because its one connection is shared.
   */
  tx<T>(fn: (q: SqlQueries) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * Column types that differ between the dialects; migrations write them as `{{name}}`. `{{sqlite_only}}`
 * in front of a statement keeps it for SQLite and makes it a comment for Postgres (physical design
 * only, such as an index one database reads through and the other never does).
 */
export const dialectTokens: Record<SqlDriver['dialect'], Record<string, string>> = {
  sqlite: { serial_pk: 'INTEGER PRIMARY KEY AUTOINCREMENT', double: 'REAL', sqlite_only: '' },
  postgres: { serial_pk: 'BIGSERIAL PRIMARY KEY', double: 'DOUBLE PRECISION', sqlite_only: '-- ' },
};

/** Insert statement texts by shape (table, columns, suffix), then by row count: fixed shapes in code, counts up to a chunk. */
const insertTexts = new Map<string, string[]>();

/**
 * The multi-row `INSERT INTO table (cols) VALUES (?, …), … suffix` for `n` rows, made once per shape
 * and row count and kept, so the same string reaches the driver's statement cache every time: the
 * request log's 50-row text is 2.7 KB, and built and hashed again per statement it cost about as
 * much as binding the rows.
 */
export function insertStatement(table: string, cols: readonly string[], n: number, suffix = ''): string {
  const shape = `${table} (${cols.join(', ')}) ${suffix}`;
  let byCount = insertTexts.get(shape);
  if (byCount === undefined) {
    byCount = [];
    insertTexts.set(shape, byCount);
  }
  let sql = byCount[n];
  if (sql === undefined) {
    const one = `(${cols.map(() => '?').join(', ')})`;
    sql = `INSERT INTO ${table} (${cols.join(', ')}) VALUES ${Array.from({ length: n }, () => one).join(', ')}${suffix ? ` ${suffix}` : ''}`;
    byCount[n] = sql;
  }
  return sql;
}

/**
 * Insert `rows` (each an array matching `cols`) with multi-row `VALUES` statements of at most
 * `chunk` rows: far fewer round trips than one statement per row, and well under both databases'
 * parameter limits. `suffix` is appended to each statement (an `ON CONFLICT` clause).
 */
export async function insertMany(
  q: SqlQueries, table: string, cols: readonly string[], rows: readonly SqlParam[][], suffix = '', chunk = 100,
): Promise<void> {
  for (let i = 0; i < rows.length; i += chunk) {
    const part = rows.slice(i, i + chunk);
    await q.run(insertStatement(table, cols, part.length, suffix), part.flat());
  }
}

/** A promise-chain mutex: callers run one at a time, in call order. */
export class Mutex {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T> | T): Promise<T> {
    const result = this.#tail.then(() => fn());
    // The chain must continue whether `fn` failed or not; the caller still sees the rejection.
    this.#tail = result.catch(() => undefined);
    return result;
  }
}
