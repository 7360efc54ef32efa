/**
 * Choose and open a store adapter by URL (SPEC §3 `store:`). Called only from main.ts / cli/.
 *
 *   sqlite:./data/llmux.db   a file (its folder is created); `sqlite::memory:` for a private in-memory db
 *   postgres://user:pw@host:5432/db   (also postgresql://)
 *   memory                   process memory, lost at exit
 *
 * The SQL stores are migrated before the promise resolves.
 */
import { MemoryStore } from './memory.ts';
import { migrate } from './sql/migrate.ts';
import { SqlStore } from './sql/store.ts';
import type { SqlDriver } from './sql/driver.ts';
import type { OpenStoreOptions, Store } from './types.ts';

export async function openStore(url: string, opts: OpenStoreOptions = {}): Promise<Store> {
  const now = opts.now ?? Date.now;
  if (url === 'memory') return new MemoryStore(now);
  let driver: SqlDriver;
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length).replace(/^\/\//, '');
    if (!path) throw new Error('store URL "sqlite:" needs a path, for example sqlite:./data/llmux.db');
    // Drivers load on demand: a gateway on SQLite never pays for pg's memory, and the reverse.
    const { openSqliteDriver } = await import('./sqlite/driver.ts');
    driver = await openSqliteDriver(path, { busyTimeoutMs: opts.busyTimeoutMs });
  } else if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const { openPostgresDriver } = await import('./postgres/driver.ts');
    driver = await openPostgresDriver(url, { schema: opts.schema, poolSize: opts.poolSize });
  } else {
    throw new Error(`unknown store "${redactUrl(url)}": use sqlite:./path.db, postgres://… or memory`);
  }
  try {
    await migrate(driver, now());
  } catch (err) {
    await driver.close().catch(() => undefined);
    throw err;
  }
  return new SqlStore(driver, now);
}

/** A store URL for messages: the password (if any) replaced, so errors never carry it. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');
}
