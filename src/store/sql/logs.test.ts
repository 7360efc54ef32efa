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
import { checkpointPages, insertLogs, pruneLogs } from './logs.ts';
import { migrate } from './migrate.ts';

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
      tx: (fn) => db.tx(fn),
      close: () => db.close(),
    },
  };
  return rec;
}

test('the SQLite prune checkpoints every 100 pages while it deletes, and restores the threshold after, also on failure', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'llmux-prune-'));
  const db = await openSqliteDriver(path.join(dir, 'log.db'));
  try {
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
  } finally {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  }
});
