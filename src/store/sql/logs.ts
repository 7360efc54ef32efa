/** The request log in SQL: batched inserts, filtered reads, statistics and chunked pruning. */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { buildStats, STATS_SAMPLE, type LatencySample, type StatsAggregate } from '../log-stats.ts';
import type { LogQuery, PruneOptions, RequestLogRow, StatsResult } from '../types.ts';
import { insertMany, type SqlDriver, type SqlParam } from './driver.ts';
import { logColumns, logFromRow, logToParams } from './rows.ts';

/** Rows deleted per statement: small enough that SQLite holds the event loop only briefly. */
const PRUNE_CHUNK = 5000;
const DAY_MS = 86_400_000;

export async function insertLogs(db: SqlDriver, rows: readonly RequestLogRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db.tx((q) => insertMany(q, 'request_log', logColumns, rows.map(logToParams), '', 50));
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
  if (query.since !== undefined) { where.push('ts >= ?'); params.push(query.since); }
  if (query.before !== undefined) { where.push('ts < ?'); params.push(query.before); }
  params.push(clampLimit(query.limit));
  const sql = `SELECT * FROM request_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ts DESC, seq DESC LIMIT ?`;
  return (await db.all(sql, params)).map(logFromRow);
}

export async function statsSince(db: SqlDriver, since: number): Promise<StatsResult> {
  const aggRows = await db.all(
    `SELECT COALESCE(provider, '') AS provider, COUNT(*) AS requests,
       SUM(CASE WHEN status < 400 THEN 1 ELSE 0 END) AS success,
       SUM(CASE WHEN failure_class = 'timeout' THEN 1 ELSE 0 END) AS timeouts,
       SUM(CASE WHEN attempts > 1 THEN attempts - 1 ELSE 0 END) AS retries,
       SUM(COALESCE(prompt_tokens, 0)) AS prompt_tokens,
       SUM(COALESCE(completion_tokens, 0)) AS completion_tokens
     FROM request_log WHERE ts >= ? GROUP BY COALESCE(provider, '')`,
    [since],
  );
  const aggregates: StatsAggregate[] = aggRows.map((r) => ({
    provider: String(r['provider']),
    requests: Number(r['requests']),
    success: Number(r['success'] ?? 0),
    timeouts: Number(r['timeouts'] ?? 0),
    retries: Number(r['retries'] ?? 0),
    promptTokens: Number(r['prompt_tokens'] ?? 0),
    completionTokens: Number(r['completion_tokens'] ?? 0),
  }));
  const sampleRows = await db.all(
    `SELECT COALESCE(provider, '') AS provider, latency_ms FROM request_log WHERE ts >= ? ORDER BY seq DESC LIMIT ?`,
    [since, STATS_SAMPLE],
  );
  const sample: LatencySample[] = sampleRows.map((r) => ({ provider: String(r['provider']), latencyMs: Number(r['latency_ms']) }));
  return buildStats(aggregates, sample);
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

export async function pruneLogs(db: SqlDriver, opts: PruneOptions): Promise<number> {
  const now = opts.now ?? Date.now();
  let deleted = 0;
  // Every query here is an index lookup, never a walk over the log: SQLite runs on the event loop,
  // and a walk over a million rows held it for 40-70 ms (an answer's chunk that long late).
  if (opts.days !== undefined && opts.days > 0) {
    const cutoff = now - opts.days * DAY_MS;
    // By the ts index; in no order (ORDER BY seq made SQLite walk the whole table by seq).
    deleted += await deleteInChunks(db, 'SELECT seq FROM request_log WHERE ts < ? LIMIT ?', [cutoff]);
  }
  if (opts.maxRows !== undefined && opts.maxRows >= 0) {
    // Keep the newest `maxRows` insertion numbers (an OFFSET to find the edge walked every row).
    // Rows leave from the oldest end, by age or by number, so the numbers have next to no gaps: this
    // is the newest `maxRows` rows, or where gaps exist a few rows fewer, never more.
    const top = await db.all('SELECT MAX(seq) AS seq FROM request_log');
    const max = top[0]?.['seq'];
    if (max !== undefined && max !== null) {
      const edge = Number(max) - Math.floor(opts.maxRows);
      if (edge > 0) deleted += await deleteInChunks(db, 'SELECT seq FROM request_log WHERE seq <= ? ORDER BY seq LIMIT ?', [edge]);
    }
  }
  return deleted;
}
