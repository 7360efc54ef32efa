/**
 * The request-log prune on SQLite: smaller write-ahead-log checkpoints while it deletes (each one
 * holds the event loop), and the gateway's own threshold back afterwards, also when it fails.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { openSqliteDriver } from '../sqlite/driver.ts';
import type { RequestLogRow } from '../types.ts';
import type { SqlDriver } from './driver.ts';
import { checkpointPages, insertLogs, LATENCY_SAMPLE, pruneLogs, queryLogs } from './logs.ts';
import { loadMigrations, migrate, renderMigration } from './migrate.ts';

const row = (i: number, ts: number): RequestLogRow => ({
  id: `req-${i}`, ts, principal: null, route: 'r', model: 'm', upstreamModel: 'm', provider: 'p', endpoint: 'p#0:m', status: 200,
  failureClass: null, attempts: 1, latencyMs: 1, ttftMs: null, promptTokens: 1, completionTokens: 1, stream: false, error: null,
});

/** The driver with every statement recorded, and DELETEs failing when `failDeletes` is set. */
function recording(db: SqlDriver): { db: SqlDriver; seen: string[]; failDeletes: boolean } {
  const rec: { db: SqlDriver; seen: string[]; failDeletes: boolean } = {
    seen: [],
    failDeletes: false,
    db: {
      dialect: db.dialect,
      exec: (sql) => db.exec(sql),
      all: (sql, params) => db.all(sql, params),
      run: async (sql, params) => {
        rec.seen.push(sql);
        if (rec.failDeletes && sql.startsWith('DELETE')) throw new Error('disk I/O error');
        return db.run(sql, params);
      },
      // Statements inside a transaction are recorded too.
      tx: (fn) => db.tx((q) => fn({
        exec: (sql) => q.exec(sql),
        all: (sql, params) => q.all(sql, params),
        run: (sql, params) => {
          rec.seen.push(sql);
          return q.run(sql, params);
        },
      })),
      close: () => db.close(),
    },
  };
  return rec;
}

/** A fresh SQLite log database in a temporary folder for `fn`, removed after. */
async function withDb(fn: (db: SqlDriver) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'llmux-log-'));
  const db = await openSqliteDriver(path.join(dir, 'log.db'));
  try {
    await fn(db);
  } finally {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
}

test('the SQLite prune checkpoints every 100 pages while it deletes, and restores the threshold after, also on failure', () => withDb(async (db) => {
  await migrate(db, Date.now());
  await db.run('PRAGMA wal_autocheckpoint = 777');
  const now = Date.now();
  await insertLogs(db, Array.from({ length: 600 }, (_, i) => row(i, now - 1000 + i)));
  const rec = recording(db);
  assert.equal(await pruneLogs(rec.db, { maxRows: 100, now }), 500);
  const at = (s: string): number => rec.seen.findIndex((x) => x.startsWith(s));
  assert.ok(at('PRAGMA wal_autocheckpoint = 100') >= 0 && at('PRAGMA wal_autocheckpoint = 100') < at('DELETE'), rec.seen.join('\n'));
  assert.equal(rec.seen.at(-1), 'PRAGMA wal_autocheckpoint = 777');
  assert.equal(await checkpointPages(db), 777);

  // Two prunes at once on the same connection: the threshold still comes back.
  await insertLogs(db, Array.from({ length: 600 }, (_, i) => row(2000 + i, now + i)));
  const first = pruneLogs(db, { maxRows: 100, now });
  // The second starts once the first has lowered the threshold (it must not "restore" 100).
  for (let i = 0; i < 1000 && (await checkpointPages(db)) !== 100; i++) await new Promise((r) => setImmediate(r));
  assert.equal(await checkpointPages(db), 100);
  const both = await Promise.all([first, pruneLogs(db, { maxRows: 100, now })]);
  assert.equal(both[0] + both[1], 600);
  assert.equal(await checkpointPages(db), 777);

  rec.failDeletes = true;
  await insertLogs(db, Array.from({ length: 300 }, (_, i) => row(1000 + i, now + i)));
  await assert.rejects(pruneLogs(rec.db, { maxRows: 100, now }), /disk I\/O error/);
  assert.equal(await checkpointPages(db), 777);
}));

test('the row cap walks to the keep-th newest row in steps, counting rows, not insertion numbers', () => withDb(async (db) => {
  await migrate(db, Date.now());
  const now = Date.now();
  await insertLogs(db, Array.from({ length: 6000 }, (_, i) => row(i, now - 10_000 + i)));
  // Gaps inside what is kept: 300 insertion numbers with no row.
  await db.run('DELETE FROM request_log WHERE seq BETWEEN 4001 AND 4300');
  const seqs = (await db.all('SELECT seq FROM request_log ORDER BY seq DESC')).map((r) => Number(r['seq']));
  assert.equal(seqs.length, 5700);
  // 5,600 to keep: more than two steps of the walk.
  assert.equal(await pruneLogs(db, { maxRows: 5600, now }), 100);
  const kept = (await db.all('SELECT seq FROM request_log ORDER BY seq DESC')).map((r) => Number(r['seq']));
  assert.deepEqual(kept, seqs.slice(0, 5600));
}));

test('SQLite inserts the log in 50-row statements whose text is made once per size, every column in place', () => withDb(async (db) => {
  await migrate(db, Date.now());
  const rec = recording(db);
  const now = 1_800_000_000_000;
  const odd: RequestLogRow = {
    id: 'odd', ts: now, principal: 'k', route: 'r', model: 'm', upstreamModel: 'u', provider: 'p', endpoint: 'p#1:u', status: 502,
    failureClass: 'transient', attempts: 3, latencyMs: 12.6, ttftMs: 3.4, promptTokens: null, completionTokens: 7, stream: true, error: 'upstream 502',
  };
  // 120 rows: two statements of 50 and one of 20, in one transaction.
  await insertLogs(rec.db, [...Array.from({ length: 119 }, (_, i) => row(i, now + i)), odd]);
  await insertLogs(rec.db, Array.from({ length: 50 }, (_, i) => row(500 + i, now + 500 + i)));
  const inserts = rec.seen.filter((s) => s.startsWith('INSERT'));
  assert.equal(inserts.length, 4);
  assert.equal(inserts[0]!.match(/\(\?/g)?.length, 50);
  assert.equal(inserts[2]!.match(/\(\?/g)?.length, 20);
  // The same string each time (the driver's statement cache is keyed by it), not an equal copy.
  assert.ok(Object.is(inserts[0], inserts[1]) && Object.is(inserts[0], inserts[3]));
  const got = await db.all('SELECT * FROM request_log WHERE id = ?', ['odd']);
  assert.deepEqual({ ...got[0], seq: undefined }, {
    seq: undefined, id: 'odd', ts: now, principal: 'k', route: 'r', model: 'm', upstream_model: 'u', provider: 'p', endpoint: 'p#1:u', status: 502,
    failure_class: 'transient', attempts: 3, latency_ms: 13, ttft_ms: 3, prompt_tokens: null, completion_tokens: 7, stream: 1, error: 'upstream 502',
  });
  assert.equal((await db.all('SELECT COUNT(*) AS n FROM request_log'))[0]!['n'], 170);
}));

test('SQLite drops the (provider, ts) index of the log; Postgres keeps it, and a provider filter still reads newest first', () => withDb(async (db) => {
  assert.deepEqual(await migrate(db, Date.now()), [1, 2]);
  const indexes = (await db.all("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'request_log'")).map((r) => r['name']);
  assert.deepEqual(indexes, ['request_log_ts']);
  const sql = (await loadMigrations()).find((m) => m.version === 2)!.sql;
  const pg = renderMigration(sql, 'postgres');
  assert.ok(pg.split('\n').every((l) => l.trim() === '' || l.startsWith('--')), pg);
  assert.match(renderMigration(sql, 'sqlite'), /^DROP INDEX IF EXISTS request_log_provider_ts;$/m);
  // The token comments out one line on Postgres: anywhere but in front of a one-line statement it is refused.
  for (const bad of ['{{sqlite_only}}CREATE INDEX a\n  ON t (a);', '{{sqlite_only}}DROP INDEX x; DROP INDEX y;', 'CREATE TABLE u (a INT, {{sqlite_only}}b INT);']) {
    assert.throws(() => renderMigration(bad, 'sqlite'), /sqlite_only/, bad);
  }
  // More rows than one read window (5,000 of the ts index), two providers interleaved.
  const now = 1_800_000_000_000;
  await insertLogs(db, Array.from({ length: 12_000 }, (_, i) => ({ ...row(i, now + i), provider: i % 3 === 0 ? 'rare' : 'p' })));
  // The statistics' latency sample reads the ts index, not the whole log by its key.
  const plan = (await db.all(`EXPLAIN QUERY PLAN ${LATENCY_SAMPLE}`, [now, 5000])).map((r) => String(r['detail'])).join(' | ');
  assert.match(plan, /USING (COVERING )?INDEX request_log_ts \(ts>\?\)/, plan);
  assert.doesNotMatch(plan, /SCAN|TEMP B-TREE/, plan);
  const rare = await queryLogs(db, { provider: 'rare', limit: 1000 });
  assert.equal(rare.length, 1000);
  assert.ok(rare.every((r, i) => r.provider === 'rare' && r.ts === now + 11_997 - 3 * i));
}));
