/**
 * The request log contract: queries, statistics, retention pruning, and the batched writer in front
 * of a failing store. Run against every store adapter by store.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RequestLogWriter } from '../../src/store/log-writer.ts';
import type { RequestLogRow, Store } from '../../src/store/types.ts';
import { eventually } from './backends.ts';
import type { StoreAdapter } from './store-adapters.ts';
import { withStore } from './store.suite.ts';

const DAY = 86_400_000;

export function logRow(over: Partial<RequestLogRow> = {}): RequestLogRow {
  return {
    id: `req-${Math.random().toString(36).slice(2)}`, ts: Date.now(), principal: 'key-1', route: 'chat', model: 'chat',
    upstreamModel: 'gpt-x', provider: 'p1', endpoint: 'p1#0:gpt-x', status: 200, failureClass: null, attempts: 1,
    latencyMs: 100, ttftMs: 20, promptTokens: 10, completionTokens: 5, stream: false, error: null, ...over,
  };
}

/** A store whose `insertLogs` fails the first `failures` calls (rejecting or throwing synchronously). */
function flaky(store: Store, failures: number, sync = false): Store & { calls: number } {
  const wrapper = Object.create(store) as Store & { calls: number };
  wrapper.calls = 0;
  wrapper.insertLogs = (rows) => {
    wrapper.calls++;
    if (wrapper.calls <= failures) {
      if (sync) throw new Error('disk full (sync)');
      return Promise.reject(new Error('database is locked'));
    }
    return store.insertLogs(rows);
  };
  return wrapper;
}

export function logsSuite(adapter: StoreAdapter): void {
  queryTests(adapter);
  retentionTests(adapter);
  writerTests(adapter);
}

function queryTests(adapter: StoreAdapter): void {
  const run = (fn: (s: Store) => Promise<void>) => () => withStore(adapter, fn);
  describe(`${adapter.name} store: request log`, { timeout: 30_000 }, () => {
    test('queries filter by provider, route, status, since and before, newest first', run(async (s) => {
      const t = 1_800_000_000_000;
      await s.insertLogs([
        logRow({ id: 'a', ts: t, provider: 'p1', route: 'chat', status: 200, stream: true }),
        logRow({ id: 'b', ts: t + 1, provider: 'p2', route: 'chat', status: 502, failureClass: 'transient', error: 'upstream 502' }),
        logRow({ id: 'c', ts: t + 2, provider: 'p1', route: 'embed', status: 429, ttftMs: null, promptTokens: null }),
        logRow({ id: 'd', ts: t + 2, provider: 'p1', route: 'chat', status: 200 }),
      ]);
      const ids = async (q: Parameters<Store['queryLogs']>[0]) => (await s.queryLogs(q)).map((r) => r.id);
      assert.deepEqual(await ids({}), ['d', 'c', 'b', 'a'], 'equal ts: later insert first');
      assert.deepEqual(await ids({ provider: 'p1' }), ['d', 'c', 'a']);
      assert.deepEqual(await ids({ route: 'chat', status: 'ok' }), ['d', 'a']);
      assert.deepEqual(await ids({ status: 'error' }), ['c', 'b']);
      assert.deepEqual(await ids({ status: 429 }), ['c']);
      assert.deepEqual(await ids({ since: t + 1, before: t + 2 }), ['b']);
      assert.deepEqual(await ids({ limit: 2 }), ['d', 'c']);
      const [c] = await s.queryLogs({ status: 429 });
      assert.deepEqual(c, logRow({ ...c, id: 'c', ts: t + 2, provider: 'p1', route: 'embed', status: 429, ttftMs: null, promptTokens: null }));
      assert.equal((await s.queryLogs({ provider: 'p1', route: 'chat', status: 200 })).find((r) => r.id === 'a')?.stream, true);
    }));

    test('statsSince totals success, failures, timeouts, retries, tokens and latency percentiles', run(async (s) => {
      const t = Date.now();
      const rows = Array.from({ length: 20 }, (_, i) => logRow({ ts: t, provider: 'p1', latencyMs: (i + 1) * 10, attempts: i < 3 ? 2 : 1 }));
      rows.push(logRow({ ts: t, provider: 'p2', status: 504, failureClass: 'timeout', attempts: 3, promptTokens: 7, completionTokens: null }));
      rows.push(logRow({ ts: t - 10_000, provider: 'p2', status: 500 }));
      rows.push(logRow({ ts: t, provider: null, status: 401, attempts: 0, promptTokens: null, completionTokens: null }));
      await s.insertLogs(rows);
      const st = await s.statsSince(t - 1000);
      assert.deepEqual(st.byProvider['p1'], {
        requests: 20, success: 20, failure: 0, timeouts: 0, retries: 3, promptTokens: 200, completionTokens: 100, latencyP50: 100, latencyP95: 190,
      });
      assert.equal(st.byProvider['p2']?.timeouts, 1);
      assert.equal(st.byProvider['p2']?.retries, 2);
      assert.equal(st.byProvider['p2']?.requests, 1, 'rows before `since` are not counted');
      assert.equal(st.byProvider['']?.failure, 1, 'rows without a provider are under ""');
      assert.equal(st.total.requests, 22);
      assert.equal(st.total.failure, 2);
      assert.equal(st.total.promptTokens, 207);
      assert.deepEqual((await s.statsSince(t + 1)).total.latencyP50, null);
    }));

    test('filtered log reads over many rows (SQLite reads them in windows) keep the order and the bounds of one query', run(async (s) => {
      const t = Date.now() - 100_000;
      // 12,000 rows, ten to a ts (ties must stay together), one failure per ts, two routes.
      const rows = Array.from({ length: 12_000 }, (_, i) => logRow({ id: `r${i}`, ts: t + Math.floor(i / 10), status: i % 10 === 3 ? 500 : 200, route: i % 2 === 0 ? 'even' : 'odd' }));
      for (let i = 0; i < rows.length; i += 2000) await s.insertLogs(rows.slice(i, i + 2000));
      const expect = (pred: (r: RequestLogRow) => boolean, limit = 100): string[] =>
        rows.map((r, i) => ({ r, i })).filter(({ r }) => pred(r)).sort((a, b) => b.r.ts - a.r.ts || b.i - a.i).slice(0, limit).map(({ r }) => r.id);
      const ids = (list: RequestLogRow[]): string[] => list.map((r) => r.id);
      assert.deepEqual(ids(await s.queryLogs({ status: 'error', limit: 1000 })), expect((r) => r.status >= 400, 1000));
      assert.deepEqual(ids(await s.queryLogs({ route: 'odd', before: t + 1000, since: t + 400, limit: 1000 })), expect((r) => r.route === 'odd' && r.ts < t + 1000 && r.ts >= t + 400, 1000));
      assert.deepEqual(ids(await s.queryLogs({ status: 'error', before: t + 900, since: t + 100, limit: 1000 })), expect((r) => r.status >= 400 && r.ts < t + 900 && r.ts >= t + 100, 1000));
      assert.deepEqual(ids(await s.queryLogs({ route: 'even', status: 'ok', limit: 50 })), expect((r) => r.route === 'even' && r.status < 400, 50));
      assert.deepEqual(await s.queryLogs({ route: 'none', limit: 10 }), []);
    }));

    test('statsSince over a log larger than one read step (SQLite reads it in steps) counts every row once', run(async (s) => {
      const t = Date.now();
      const rows = Array.from({ length: 12_345 }, (_, i) => logRow({
        ts: i < 345 ? t - 100_000 : t - 1000 + (i % 100), provider: i % 3 === 0 ? 'p2' : 'p1',
        status: i % 10 === 0 ? 502 : 200, failureClass: i % 10 === 0 ? 'timeout' : null, attempts: i % 7 === 0 ? 2 : 1, promptTokens: 2, completionTokens: 1,
      }));
      for (let i = 0; i < rows.length; i += 2000) await s.insertLogs(rows.slice(i, i + 2000));
      const counted = rows.filter((r) => r.ts >= t - 50_000);
      const st = await s.statsSince(t - 50_000);
      assert.equal(st.total.requests, counted.length);
      assert.equal(st.byProvider['p2']?.requests, counted.filter((r) => r.provider === 'p2').length);
      assert.equal(st.total.failure, counted.filter((r) => r.status >= 400).length);
      assert.equal(st.total.timeouts, counted.filter((r) => r.failureClass === 'timeout').length);
      assert.equal(st.total.retries, counted.filter((r) => r.attempts > 1).length);
      assert.equal(st.total.promptTokens, 2 * counted.length);
      assert.equal((await s.statsSince(0)).total.requests, rows.length);
    }));
  });
}

function retentionTests(adapter: StoreAdapter): void {
  const run = (fn: (s: Store) => Promise<void>) => () => withStore(adapter, fn);
  describe(`${adapter.name} store: request log retention`, { timeout: 30_000 }, () => {
    test('pruning by age and by row count bounds the log', run(async (s) => {
      const now = Date.now();
      const old = Array.from({ length: 30 }, (_, i) => logRow({ id: `old${i}`, ts: now - 40 * DAY + i }));
      const recent = Array.from({ length: 5200 }, (_, i) => logRow({ id: `new${i}`, ts: now - 1000 + (i % 500) }));
      await s.insertLogs(old);
      await s.insertLogs(recent);
      assert.equal(await s.pruneLogs({ days: 30, now }), 30);
      assert.equal((await s.queryLogs({ before: now - DAY })).length, 0);
      // More than one delete chunk (250 rows): the oldest inserted go first.
      assert.equal(await s.pruneLogs({ maxRows: 100, now }), 5100);
      assert.equal((await s.statsSince(0)).total.requests, 100);
      const kept = new Set((await s.queryLogs({ limit: 1000 })).map((r) => r.id));
      assert.ok(kept.has('new5199') && kept.has('new5100') && !kept.has('new5099'));
      assert.equal(await s.pruneLogs({ days: 30, maxRows: 100, now }), 0, 'nothing more to do');
      assert.equal(await s.pruneLogs({ maxRows: 0, now }), 100);
    }));

    test('the row cap keeps exactly the newest maxRows rows when insertion numbers have gaps', run(async (s) => {
      // Rows aged out from the middle (a clock step, back-dated rows) leave gaps in the numbers.
      const now = Date.now();
      await s.insertLogs(Array.from({ length: 100 }, (_, i) => logRow({ id: `a${i}`, ts: now - 1000 })));
      await s.insertLogs(Array.from({ length: 50 }, (_, i) => logRow({ id: `old${i}`, ts: now - 40 * DAY })));
      await s.insertLogs(Array.from({ length: 100 }, (_, i) => logRow({ id: `b${i}`, ts: now - 500 })));
      assert.equal(await s.pruneLogs({ days: 30, maxRows: 150, now }), 50 + 50);
      assert.equal((await s.statsSince(0)).total.requests, 150);
      const kept = new Set((await s.queryLogs({ limit: 1000 })).map((r) => r.id));
      assert.ok(kept.has('a50') && kept.has('a99') && kept.has('b0') && !kept.has('a49'), 'the 50 oldest recent rows went, nothing newer');
      assert.equal(await s.pruneLogs({ maxRows: 1000, now }), 0, 'under the cap: nothing');
    }));

    test('the row cap finds its edge in steps when it keeps more rows than one step reads', run(async (s) => {
      // 10,000 rows a step on SQLite: keeping 10,150 takes two, across a gap left by the age cut.
      const now = Date.now();
      await s.insertLogs(Array.from({ length: 200 }, (_, i) => logRow({ id: `x${i}`, ts: now - 2000 })));
      await s.insertLogs(Array.from({ length: 50 }, (_, i) => logRow({ id: `old${i}`, ts: now - 40 * DAY })));
      for (let k = 0; k < 10; k++) {
        await s.insertLogs(Array.from({ length: 1010 }, (_, i) => logRow({ id: `y${k * 1010 + i}`, ts: now - 1000 })));
      }
      assert.equal(await s.pruneLogs({ days: 30, maxRows: 10_150, now }), 50 + 150);
      assert.equal((await s.statsSince(0)).total.requests, 10_150);
      const oldest = await s.queryLogs({ before: now - 1500, limit: 1000 });
      assert.deepEqual(oldest.map((r) => r.id).sort(), Array.from({ length: 50 }, (_, i) => `x${150 + i}`).sort(), 'the 150 oldest went, nothing newer');
    }));
  });
}

function writerTests(adapter: StoreAdapter): void {
  const run = (fn: (s: Store) => Promise<void>) => () => withStore(adapter, fn);
  describe(`${adapter.name} store: batched log writer`, { timeout: 30_000 }, () => {
    test('push never throws while the store fails; errors are reported and the rows retried until written', run(async (s) => {
      const store = flaky(s, 2);
      const errors: { attempt: number; dropped: boolean }[] = [];
      const w = new RequestLogWriter(store, { maxBatch: 10, flushMs: 10, maxBackoffMs: 40, onError: (_e, info) => errors.push(info) });
      for (let i = 0; i < 25; i++) assert.doesNotThrow(() => w.push(logRow({ id: `r${i}` })));
      const all = await eventually(async () => (await s.queryLogs({ limit: 100 })).length === 25, 5000);
      assert.ok(all, `all 25 rows written, stats ${JSON.stringify(w.stats())}`);
      assert.deepEqual(errors.slice(0, 2), [{ rows: 10, attempt: 1, dropped: false }, { rows: 10, attempt: 2, dropped: false }]);
      assert.deepEqual(w.stats(), { buffered: 0, written: 25, dropped: 0, failures: 2 });
      await w.close();
    }));

    test('a store that throws synchronously is handled like one that rejects', run(async (s) => {
      const store = flaky(s, 1, true);
      let reported = 0;
      const w = new RequestLogWriter(store, { maxBatch: 5, flushMs: 10, onError: () => reported++ });
      w.push(logRow());
      await w.close();
      assert.equal(reported, 1);
      assert.equal((await s.queryLogs({})).length, 1, 'close() retried and wrote it');
    }));

    test('a store that keeps failing costs only rows beyond the bounded buffer, counted', run(async (s) => {
      const store = flaky(s, Number.POSITIVE_INFINITY);
      let reported = 0;
      const w = new RequestLogWriter(store, { maxBatch: 10, maxBuffer: 50, flushMs: 5, maxRetries: 3, maxBackoffMs: 10, onError: () => reported++ });
      for (let i = 0; i < 80; i++) w.push(logRow());
      assert.ok(w.stats().buffered <= 50);
      assert.equal(w.stats().dropped, 30);
      await w.close();
      assert.equal(w.stats().dropped, 80, 'after close the rest is given up and counted');
      assert.ok(reported >= 3);
      w.push(logRow());
      assert.equal(w.stats().dropped, 81, 'push after close drops, never throws');
    }));

    test('flush() writes at once in batches of maxBatch', run(async (s) => {
      const batches: number[] = [];
      const counting = Object.create(s) as Store;
      counting.insertLogs = (rows) => {
        batches.push(rows.length);
        return s.insertLogs(rows);
      };
      const w = new RequestLogWriter(counting, { maxBatch: 100, flushMs: 60_000 });
      for (let i = 0; i < 250; i++) w.push(logRow());
      await w.flush();
      assert.deepEqual(batches, [100, 100, 50]);
      assert.equal((await s.statsSince(0)).total.requests, 250);
      await w.close();
    }));
  });
}
