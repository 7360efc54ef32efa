/** The request log in SQL: batched inserts, filtered reads, statistics and chunked pruning. */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { buildStats, STATS_SAMPLE, type LatencySample, type StatsAggregate } from '../log-stats.ts';
import type { LogQuery, PruneOptions, RequestLogRow, StatsResult } from '../types.ts';
import { insertStatement, type SqlDriver, type SqlParam, type SqlRow } from './driver.ts';
import { logColumns, logFromRow, logParamsInto } from './rows.ts';

/**
 * Rows deleted per statement: small enough that SQLite holds the event loop only briefly. On a copy
 * of a 1.3-million-row log right after load, 5,000 rows took 6.3 ms a statement (18.5 at most, with
 * a write-ahead-log checkpoint), 1,000 rows 1.2 ms (12.2 at most), in about the same total time.
 * In a gateway that had just served 1.4 million requests, a stream's events 50 ms apart came up to
 * 17 ms late while 1,000-row statements pruned the log (with the row cap's 50,000-row steps), and
 * about 5 ms late with 250-row statements and 10,000-row steps; the prune took about 1 s either way.
 */
const PRUNE_CHUNK = 250;
/** Rows of the ts index one window of a filtered log read covers on SQLite. */
const LOG_WINDOW = 5000;
/** Rows one step of the statistics reads on SQLite (a few ms of the event loop each). */
const STATS_STEP = 5000;
/**
 * Rows the row cap reads per step when it looks for the Nth newest row (N, the cap; see
 * PRUNE_CHUNK). In a gateway just after load, 21 of a hundred steps of 10,000 rows held the event
 * loop more than 4 ms (8.2 at most); of four hundred steps of 2,500, 12 did (5.0 at most).
 */
const CAP_STEP = 2_500;
const DAY_MS = 86_400_000;

/** Rows per insert statement (17 parameters each: 850, under both databases' limits). */
const INSERT_CHUNK = 50;

export async function insertLogs(db: SqlDriver, rows: readonly RequestLogRow[]): Promise<void> {
  if (rows.length === 0) return;
  const width = logColumns.length;
  await db.tx(async (q) => {
    for (let i = 0; i < rows.length; i += INSERT_CHUNK) {
      const n = Math.min(INSERT_CHUNK, rows.length - i);
      // One flat parameter list, filled in place: no array per row, no flattening.
      const params: SqlParam[] = new Array(n * width);
      for (let j = 0; j < n; j++) logParamsInto(rows[i + j]!, params, j * width);
      await q.run(insertStatement('request_log', logColumns, n), params);
    }
  });
}

export function clampLimit(limit: number | undefined): number {
  return Math.min(1000, Math.max(1, Math.floor(limit ?? 100)));
}

export async function queryLogs(db: SqlDriver, query: LogQuery): Promise<RequestLogRow[]> {
  const where: string[] = [];
  const params: SqlParam[] = [];
  if (query.provider !== undefined) { where.push('provider = ?'); params.push(query.provider); }
  if (query.route !== undefined) { where.push('route = ?'); params.push(query.route); }
  if (query.status === 'ok') where.push('status < 400');
  else if (query.status === 'error') where.push('status >= 400');
  else if (query.status !== undefined) { where.push('status = ?'); params.push(query.status); }
  const limit = clampLimit(query.limit);
  if (db.dialect === 'sqlite' && where.length > 0) return queryInWindows(db, where, params, query, limit);
  if (query.since !== undefined) { where.push('ts >= ?'); params.push(query.since); }
  if (query.before !== undefined) { where.push('ts < ?'); params.push(query.before); }
  params.push(limit);
  const sql = `SELECT * FROM request_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ts DESC, seq DESC LIMIT ?`;
  return (await db.all(sql, params)).map(logFromRow);
}

/**
 * A filtered read on SQLite, newest first, one window of about LOG_WINDOW rows of the ts index at a
 * time with the event loop free between windows: a filter that matches few rows (`status: 'error'`
 * on a healthy log) made one query walk the whole log (400 ms at 1.2 M rows, the gateway held).
 * Windows are ranges of `ts`, so rows sharing a `ts` are always in the same window and the order is
 * the one query's: ts descending, then seq descending.
 */
async function queryInWindows(db: SqlDriver, where: string[], params: SqlParam[], query: LogQuery, limit: number): Promise<RequestLogRow[]> {
  const out: RequestLogRow[] = [];
  const floor = query.since ?? Number.MIN_SAFE_INTEGER;
  let upper = query.before ?? Number.MAX_SAFE_INTEGER;
  const sql = `SELECT * FROM request_log WHERE ${where.join(' AND ')} AND ts < ? AND ts >= ? ORDER BY ts DESC, seq DESC LIMIT ?`;
  for (;;) {
    // The ts LOG_WINDOW rows below `upper` in the index (or the floor, when fewer are left).
    const edge = await scalar(db, `SELECT ts AS v FROM request_log WHERE ts < ? ORDER BY ts DESC LIMIT 1 OFFSET ${LOG_WINDOW - 1}`, [upper]);
    const lower = edge === null ? floor : Math.max(edge, floor);
    const rows = await db.all(sql, [...params, upper, lower, limit - out.length]);
    for (const r of rows) out.push(logFromRow(r));
    if (out.length >= limit || lower <= floor) return out;
    upper = lower;
    await yieldToLoop();
  }
}

const AGGREGATE = `SELECT COALESCE(provider, '') AS provider, COUNT(*) AS requests,
       SUM(CASE WHEN status < 400 THEN 1 ELSE 0 END) AS success,
       SUM(CASE WHEN failure_class = 'timeout' THEN 1 ELSE 0 END) AS timeouts,
       SUM(CASE WHEN attempts > 1 THEN attempts - 1 ELSE 0 END) AS retries,
       SUM(COALESCE(prompt_tokens, 0)) AS prompt_tokens,
       SUM(COALESCE(completion_tokens, 0)) AS completion_tokens
     FROM request_log WHERE ts >= ?`;
const BY_PROVIDER = ` GROUP BY COALESCE(provider, '')`;
/**
 * The latency sample: the newest rows of the range, by the ts index, which bounds the read on both
 * sides. By seq (the primary key) with a ts filter, a range holding fewer rows than the sample made
 * SQLite walk the whole log in one statement (60-80 ms of the event loop at a million rows).
 */
export const LATENCY_SAMPLE = `SELECT COALESCE(provider, '') AS provider, latency_ms FROM request_log WHERE ts >= ? ORDER BY ts DESC LIMIT ?`;

export async function statsSince(db: SqlDriver, since: number): Promise<StatsResult> {
  const totals = new Map<string, StatsAggregate>();
  const add = (rows: SqlRow[]): void => {
    for (const r of rows) {
      const provider = String(r['provider']);
      let a = totals.get(provider);
      if (a === undefined) {
        a = { provider, requests: 0, success: 0, timeouts: 0, retries: 0, promptTokens: 0, completionTokens: 0 };
        totals.set(provider, a);
      }
      a.requests += Number(r['requests']);
      a.success += Number(r['success'] ?? 0);
      a.timeouts += Number(r['timeouts'] ?? 0);
      a.retries += Number(r['retries'] ?? 0);
      a.promptTokens += Number(r['prompt_tokens'] ?? 0);
      a.completionTokens += Number(r['completion_tokens'] ?? 0);
    }
  };
  if (db.dialect !== 'sqlite') add(await db.all(AGGREGATE + BY_PROVIDER, [since]));
  else {
    // SQLite runs on the event loop: one aggregate over a million rows held it for 580 ms, and the
    // gateway with it. Go through the log by insertion number, a step at a time, requests running
    // between steps (rows written meanwhile are past `hi` and not counted).
    const range = await seqRange(db);
    if (range !== null) {
      const [lo, hi] = range;
      for (let from = lo; from <= hi; from += STATS_STEP) {
        add(await db.all(`${AGGREGATE} AND seq >= ? AND seq < ?${BY_PROVIDER}`, [since, from, Math.min(from + STATS_STEP, hi + 1)]));
        if (from + STATS_STEP <= hi) await yieldToLoop();
      }
    }
  }
  const sampleRows = await db.all(LATENCY_SAMPLE, [since, STATS_SAMPLE]);
  const sample: LatencySample[] = sampleRows.map((r) => ({ provider: String(r['provider']), latencyMs: Number(r['latency_ms']) }));
  return buildStats([...totals.values()], sample);
}

/** Delete, chunk by chunk, the rows `inner` selects (a `SELECT seq … ORDER BY seq LIMIT ?`). */
async function deleteInChunks(db: SqlDriver, inner: string, params: SqlParam[]): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await db.run(`DELETE FROM request_log WHERE seq IN (${inner})`, [...params, PRUNE_CHUNK]);
    total += n;
    // Each round deletes rows or stops, so this ends; yielding lets requests run between chunks.
    if (n < PRUNE_CHUNK) return total;
    await yieldToLoop();
  }
}

/**
 * Write-ahead-log pages after which SQLite checkpoints while the prune deletes (its default is 1,000).
 * A checkpoint copies the log into the database file and syncs it, on the event loop, in the
 * statement that crossed the threshold: 4 MB at a time took about 5 ms in an earlier rig (about 13 ms
 * by the twentieth round's measure, 0.7 ms and 12 µs a page), one every few statements of
 * a large prune. At 100 pages (400 KB) the loop's longest gaps during a 330,000-row prune went from a
 * run of about 5 ms to one of 4 ms and the rest under 3 (on a copy of a 1.3-million-row log with rows
 * going in), for about 10 % more time in all. Outside the prune the gateway's inserts checkpoint at
 * the default. The prune's first delete (or the next insert) checkpoints what the inserts left, up to
 * 1,000 pages: up to about 13 ms, the likeliest cause of the 14.7 ms hold a full run saw inside its
 * inter-chunk probe with no GC pause (bench/HISTORY.md, twentieth round). A default of 250 held every
 * checkpoint to about 4–6 ms but cost 8–12 % more CPU a streamed request under load: not kept.
 */
const PRUNE_CHECKPOINT_PAGES = 100;

export async function pruneLogs(db: SqlDriver, opts: PruneOptions): Promise<number> {
  if (db.dialect !== 'sqlite') return pruneSteps(db, opts);
  // A prune that starts while another runs on the same connection leaves the threshold to it (it
  // would read 100 and "restore" that for good).
  if (pruning.has(db)) return pruneSteps(db, opts);
  pruning.add(db);
  try {
    const was = await checkpointPages(db);
    await db.run(`PRAGMA wal_autocheckpoint = ${PRUNE_CHECKPOINT_PAGES}`);
    try {
      return await pruneSteps(db, opts);
    } finally {
      await db.run(`PRAGMA wal_autocheckpoint = ${was}`);
    }
  } finally {
    pruning.delete(db);
  }
}

/** Connections a prune with the smaller checkpoint threshold is running on. */
const pruning = new WeakSet<SqlDriver>();

/** SQLite's write-ahead-log checkpoint threshold, in pages (1,000 unless set otherwise). */
export async function checkpointPages(db: SqlDriver): Promise<number> {
  const v = Number((await db.all('PRAGMA wal_autocheckpoint'))[0]?.['wal_autocheckpoint']);
  return Number.isInteger(v) && v >= 0 ? v : 1000;
}

async function pruneSteps(db: SqlDriver, opts: PruneOptions): Promise<number> {
  const now = opts.now ?? Date.now();
  let deleted = 0;
  // No query here walks the whole log: SQLite runs on the event loop, and a walk over a million rows
  // held it for 40-70 ms (an answer's chunk that long late). Index lookups, and steps of CAP_STEP.
  if (opts.days !== undefined && opts.days > 0) {
    const cutoff = now - opts.days * DAY_MS;
    // By the ts index; in no order (ORDER BY seq made SQLite walk the whole table by seq).
    deleted += await deleteInChunks(db, 'SELECT seq FROM request_log WHERE ts < ? LIMIT ?', [cutoff]);
  }
  if (opts.maxRows !== undefined && opts.maxRows >= 0) {
    const keep = Math.floor(opts.maxRows);
    const range = await seqRange(db);
    // No more insertion numbers than rows allowed: nothing is beyond the cap (gaps only lower the
    // count). Else walk down from the newest row by the primary key, a step at a time with the loop
    // free between steps, to the keep-th newest row: everything older goes. (One OFFSET over a
    // million rows held the event loop for 36 ms.)
    if (range !== null && range[1] - range[0] + 1 > keep) {
      let edge: number | null = range[1] + 1;
      for (let left = keep; left > 0 && edge !== null; ) {
        const step = Math.min(left, CAP_STEP);
        const row = await db.all('SELECT seq FROM request_log WHERE seq < ? ORDER BY seq DESC LIMIT 1 OFFSET ?', [edge, step - 1]);
        edge = row.length === 0 ? null : Number(row[0]!['seq']);
        left -= step;
        if (left > 0) await yieldToLoop();
      }
      // null: fewer rows than the cap.
      if (edge !== null) deleted += await deleteInChunks(db, 'SELECT seq FROM request_log WHERE seq < ? ORDER BY seq LIMIT ?', [edge]);
    }
  }
  return deleted;
}

/** The lowest and highest insertion numbers in the log (two primary-key lookups), or null when it is empty. */
async function seqRange(db: SqlDriver): Promise<[number, number] | null> {
  const lo = await scalar(db, 'SELECT MIN(seq) AS v FROM request_log');
  const hi = lo === null ? null : await scalar(db, 'SELECT MAX(seq) AS v FROM request_log');
  return lo === null || hi === null ? null : [lo, hi];
}

async function scalar(db: SqlDriver, sql: string, params?: SqlParam[]): Promise<number | null> {
  const v = (await db.all(sql, params))[0]?.['v'];
  return v === undefined || v === null ? null : Number(v);
}

