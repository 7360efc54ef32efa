/**
 * The batched request-log writer (SPEC §8, faults D3/D4): the request path calls `push`, which never
 * blocks, awaits or throws; rows reach the store in batches, off the request path.
 *
 * - A flush starts every `flushMs`, or as soon as `maxBatch` rows are waiting.
 * - A failed batch is kept aside and retried (before anything newer) on later flushes, with the wait
 *   doubling from `flushMs` up to `maxBackoffMs`, so a database restart costs no rows. Each failure
 *   is reported through `onError`.
 * - Rows are dropped (and counted in `stats().dropped`) only when the queue would exceed
 *   `maxBuffer` (the oldest go first), or when one batch has failed `maxRetries` times in a row (a
 *   batch the store keeps refusing, for example over a constraint, must not block the log forever).
 */
import type { RequestLogRow, Store } from './types.ts';

export interface LogWriterOptions {
  /** Rows per insert, and the queue length that triggers an early flush. Default 200. */
  maxBatch?: number;
  /** Longest time a row waits before a flush starts. Default 1000. */
  flushMs?: number;
  /** Rows held while the store is failing; beyond this the oldest are dropped. Default 10 000. */
  maxBuffer?: number;
  /** Failures of one batch before it is given up. Default 10. */
  maxRetries?: number;
  /** Cap of the retry backoff. Default 30 000. */
  maxBackoffMs?: number;
  /** Told about every failed insert and every give-up; must not throw. */
  onError?: (err: unknown, info: { rows: number; attempt: number; dropped: boolean }) => void;
}

export interface LogWriterStats {
  /** Rows waiting. */
  buffered: number;
  written: number;
  dropped: number;
  /** Failed insert calls. */
  failures: number;
}

export class RequestLogWriter {
  readonly #store: Pick<Store, 'insertLogs'>;
  readonly #maxBatch: number;
  readonly #flushMs: number;
  readonly #maxBuffer: number;
  readonly #maxRetries: number;
  readonly #maxBackoffMs: number;
  readonly #onError: NonNullable<LogWriterOptions['onError']>;
  #queue: RequestLogRow[] = [];
  /** The batch being written or waiting for a retry; taken off the queue so trimming cannot touch it. */
  #batch: RequestLogRow[] | undefined;
  #timer: NodeJS.Timeout | undefined;
  #inflight: Promise<void> | undefined;
  /** Consecutive failures of `#batch`. */
  #attempt = 0;
  #retryAt = 0;
  #closed = false;
  readonly #stats = { written: 0, dropped: 0, failures: 0 };

  constructor(store: Pick<Store, 'insertLogs'>, opts: LogWriterOptions = {}) {
    this.#store = store;
    this.#maxBatch = Math.max(1, opts.maxBatch ?? 200);
    this.#flushMs = Math.max(1, opts.flushMs ?? 1000);
    this.#maxBuffer = Math.max(this.#maxBatch, opts.maxBuffer ?? 10_000);
    this.#maxRetries = Math.max(1, opts.maxRetries ?? 10);
    this.#maxBackoffMs = opts.maxBackoffMs ?? 30_000;
    this.#onError = opts.onError ?? (() => undefined);
    this.#timer = setInterval(() => void this.#tick(), this.#flushMs);
    // The writer must never be what keeps a finished process alive.
    this.#timer.unref();
  }

  /** Queue one row. Never throws; after `close()` the row is dropped and counted. */
  push(row: RequestLogRow): void {
    if (this.#closed) {
      this.#stats.dropped++;
      return;
    }
    this.#queue.push(row);
    const over = this.#queue.length + (this.#batch?.length ?? 0) - this.#maxBuffer;
    if (over > 0) {
      this.#queue.splice(0, over);
      this.#stats.dropped += over;
    }
    if (this.#queue.length >= this.#maxBatch && !this.#inflight && Date.now() >= this.#retryAt) {
      queueMicrotask(() => void this.#tick());
    }
  }

  stats(): LogWriterStats {
    return { buffered: this.#pending(), ...this.#stats };
  }

  /**
   * Write everything queued now, ignoring the retry backoff. Resolves when the queue is empty or a
   * batch failed (the failure went to `onError`; the rows stay queued). Never rejects.
   */
  async flush(): Promise<void> {
    // Bounded: every round either empties a batch from the queue or stops on a failure.
    for (let rounds = Math.ceil(this.#pending() / this.#maxBatch) + 1; rounds > 0; rounds--) {
      if (this.#inflight) await this.#inflight;
      if (this.#pending() === 0) return;
      if (!(await this.#run())) return;
    }
  }

  /**
   * Stop the timer and write what is left, trying each remaining batch until it fails for good
   * (at most `maxRetries` store calls per batch, without backoff); whatever is still left is
   * dropped and counted. A shutdown that must end by a deadline races this against its own timer.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    const limit = (Math.ceil(this.#pending() / this.#maxBatch) + 1) * this.#maxRetries;
    for (let i = 0; i < limit && this.#pending() > 0; i++) await this.flush();
    if (this.#pending() > 0) {
      this.#stats.dropped += this.#pending();
      this.#queue = [];
      this.#batch = undefined;
    }
  }

  async #tick(): Promise<void> {
    if (this.#inflight || this.#pending() === 0 || Date.now() < this.#retryAt) return;
    await this.#run();
  }

  #pending(): number {
    return this.#queue.length + (this.#batch?.length ?? 0);
  }

  /** Write the retry batch, or the next one from the queue. Resolves whether it was written. */
  #run(): Promise<boolean> {
    const batch = this.#batch ?? this.#queue.splice(0, this.#maxBatch);
    this.#batch = batch;
    // Through a promise, so a store that throws synchronously is handled like one that rejects.
    const done = Promise.resolve().then(() => this.#store.insertLogs(batch)).then(
      () => {
        this.#batch = undefined;
        this.#stats.written += batch.length;
        this.#attempt = 0;
        this.#retryAt = 0;
        // A backlog (after an outage, or a burst) drains batch after batch, not one per interval.
        if (this.#queue.length >= this.#maxBatch) queueMicrotask(() => void this.#tick());
        return true;
      },
      (err: unknown) => {
        this.#failed(err, batch.length);
        return false;
      },
    );
    this.#inflight = done.then(() => {
      this.#inflight = undefined;
    });
    return done;
  }

  #failed(err: unknown, rows: number): void {
    this.#stats.failures++;
    this.#attempt++;
    const giveUp = this.#attempt >= this.#maxRetries;
    safely(() => this.#onError(err, { rows, attempt: this.#attempt, dropped: giveUp }));
    if (giveUp) {
      this.#batch = undefined;
      this.#stats.dropped += rows;
      this.#attempt = 0;
      this.#retryAt = 0;
      return;
    }
    this.#retryAt = Date.now() + Math.min(this.#maxBackoffMs, this.#flushMs * 2 ** (this.#attempt - 1));
  }
}

function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // A throwing error callback must not turn into an unhandled rejection inside the writer.
  }
}
