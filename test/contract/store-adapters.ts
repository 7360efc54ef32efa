/**
 * The store adapters the contract suites run against, each with a way to read its raw tables
 * around the adapter (to prove what is really stored) and to clean up after itself. The raw readers
 * open the database directly on purpose: they check the adapter from outside.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import { MemoryStore } from '../../src/store/memory.ts';
import { openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/types.ts';
import { requireService, uniqueName } from './backends.ts';

export interface StoreAdapter {
  name: string;
  /** A fresh, empty store (own file / own schema). */
  open(): Promise<Store>;
  /** Open the same database as the last `open()` again (a restart); absent for memory. */
  reopen?(): Promise<Store>;
  /** Every row of `table` of the last opened store, read around the adapter. */
  raw(table: string): Promise<Record<string, unknown>[]>;
  /** Remove every file / schema this adapter made. */
  cleanup(): Promise<void>;
}

export function sqliteAdapter(): StoreAdapter {
  const dirs: string[] = [];
  let file = '';
  return {
    name: 'sqlite',
    async open() {
      const dir = await mkdtemp(join(tmpdir(), 'llmux-store-'));
      dirs.push(dir);
      // A folder that does not exist yet: openStore must create it.
      file = join(dir, 'nested', 'llmux.db');
      return openStore(`sqlite:${file}`);
    },
    reopen: () => openStore(`sqlite:${file}`),
    async raw(table) {
      const db = new DatabaseSync(file, { readOnly: true });
      try {
        return db.prepare(`SELECT * FROM ${table}`).all() as Record<string, unknown>[];
      } finally {
        db.close();
      }
    },
    async cleanup() {
      await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
    },
  };
}

/** Undefined (after registering a skip or, in CI, a failure) when LLMUX_TEST_PG is not set. */
export function postgresAdapter(): StoreAdapter | undefined {
  const url = requireService('LLMUX_TEST_PG', 'postgres store');
  if (!url) return undefined;
  const schemas: string[] = [];
  let schema = '';
  const withClient = async <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end();
    }
  };
  return {
    name: 'postgres',
    async open() {
      schema = uniqueName('llmux_test');
      schemas.push(schema);
      return openStore(url, { schema, poolSize: 4 });
    },
    reopen: () => openStore(url, { schema, poolSize: 4 }),
    raw: (table) => withClient(async (c) => (await c.query(`SELECT * FROM ${pg.escapeIdentifier(schema)}.${table}`)).rows),
    async cleanup() {
      await withClient(async (c) => {
        for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(s)} CASCADE`);
      });
    },
  };
}

export function memoryAdapter(): StoreAdapter {
  let last: MemoryStore | undefined;
  const tables: Record<string, string> = { client_keys: 'keys', entities: 'entities', counters: 'counters' };
  return {
    name: 'memory',
    async open() {
      last = new MemoryStore();
      return last;
    },
    async raw(table) {
      const dump = last?.dumpRaw() ?? {};
      const rows = dump[tables[table] ?? table];
      return Array.isArray(rows) ? (rows as Record<string, unknown>[]) : [];
    },
    async cleanup() {},
  };
}

/** Every adapter available here: SQLite and memory always, Postgres when configured. */
export function storeAdapters(): StoreAdapter[] {
  const pgAdapter = postgresAdapter();
  return [sqliteAdapter(), ...(pgAdapter ? [pgAdapter] : []), memoryAdapter()];
}
