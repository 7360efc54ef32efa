/**
 * Schema migrations, applied at open. The files in `src/store/migrations/` are named
 * `NNN_description.sql`, applied in order, each exactly once, recorded in `schema_migrations`.
 * One set serves both databases: `{{token}}`s are replaced with the dialect's column types.
 * Never edit an applied migration; add the next number.
 */
import { readdir, readFile } from 'node:fs/promises';
import { dialectTokens, type SqlDriver } from './driver.ts';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const migrationsDir = new URL('../migrations/', import.meta.url);
const filePattern = /^(\d+)_([\w-]+)\.sql$/;
/** Any fixed number: it only has to be the same for every llmux instance. */
const ADVISORY_LOCK_ID = 7_523_118;

/** The migrations shipped with this build, in version order. */
export async function loadMigrations(): Promise<Migration[]> {
  const files = (await readdir(migrationsDir)).filter((f) => filePattern.test(f)).sort();
  const out: Migration[] = [];
  for (const file of files) {
    const m = filePattern.exec(file);
    if (!m) continue;
    out.push({ version: Number(m[1]), name: m[2] ?? file, sql: await readFile(new URL(file, migrationsDir), 'utf8') });
  }
  return out;
}

/**
 * `{{sqlite_only}}` turns the rest of its line into a comment on Postgres, so it may only start a line
 * that holds one whole statement: anywhere else it would cut a statement in two, or hide the next one.
 */
const sqliteOnlyLine = /^\{\{sqlite_only\}\}[^;\n]*;[ \t]*$/;

/** Replace `{{token}}`s; an unknown token, or `{{sqlite_only}}` out of place, is a bug in the migration, so fail loudly. */
export function renderMigration(sql: string, dialect: SqlDriver['dialect']): string {
  for (const line of sql.split('\n')) {
    if (line.includes('{{sqlite_only}}') && !sqliteOnlyLine.test(line)) {
      throw new Error(`migration uses {{sqlite_only}} outside the start of a one-line statement: ${line.trim()}`);
    }
  }
  const tokens = dialectTokens[dialect];
  return sql.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    const v = tokens[name];
    if (v === undefined) throw new Error(`migration uses unknown token {{${name}}}`);
    return v;
  });
}

/**
 * Apply every migration not yet recorded, in one transaction, and resolve the versions applied.
 * Postgres: an advisory lock makes concurrently starting instances take turns; the second sees the
 * first one's rows and applies nothing. SQLite: `BEGIN IMMEDIATE` does the same.
 */
export async function migrate(driver: SqlDriver, now: number, migrations?: Migration[]): Promise<number[]> {
  const all = migrations ?? (await loadMigrations());
  return driver.tx(async (q) => {
    // The lock comes first: two instances racing on CREATE TABLE IF NOT EXISTS can still collide in Postgres.
    if (driver.dialect === 'postgres') await q.all(`SELECT pg_advisory_xact_lock(${ADVISORY_LOCK_ID})`);
    await q.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
    );
    const done = new Set((await q.all('SELECT version FROM schema_migrations')).map((r) => Number(r['version'])));
    const applied: number[] = [];
    for (const m of all) {
      if (done.has(m.version)) continue;
      await q.exec(renderMigration(m.sql, driver.dialect));
      await q.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [m.version, m.name, now]);
      applied.push(m.version);
    }
    return applied;
  });
}
