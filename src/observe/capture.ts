/**
 * Debug capture (SPEC §8): while capture is on, every request leaves JSON files in `debug.dir` in the
 * format of the tools llmux replaces (seed-formats §1.7, §3.3), so their users' scripts keep working:
 *
 *   YYYYMMDD_HHMMSS_mmm_REQUEST_<id8>.json    the request body, at the request's start
 *   YYYYMMDD_HHMMSS_mmm_RESPONSE_<id8>.json   the (assembled, for streams) response, at its end
 *   YYYYMMDD_HHMMSS_mmm_ERROR_<id8>.json      or the failure
 *   CALLS_YYYYMMDD.json                       the day's counters
 *
 * Fed by events only; all disk work happens in one in-process queue after the request has ended, so
 * the request path never waits on the disk. The queue is bounded: past `maxPending` requests waiting,
 * captures are dropped (and counted) but the CALLS counters never are. Everything written goes
 * through `redactDeep` first.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { dayKey, tzOffsetMs } from '../core/clock.ts';
import { channels, type AttemptEndEvent, type RequestEndEvent } from '../core/events.ts';
import { redactDeep } from './redact.ts';

export interface CaptureOptions {
  /** The gateway instance whose events to capture (several can share a process). */
  instance: string;
  /** The capture folder, read per request (hot reload may move it); created on demand. */
  dir: () => string;
  /** Capture on right now; decides whether CALLS counts a request whose event carries no capture. */
  enabled: () => boolean;
  /** Where file-name stamps and the CALLS day are reckoned (`server.timezone`); default UTC. A
   *  getter follows hot reloads. */
  timezone?: string | (() => string);
  /** A write that failed, a corrupt CALLS file, captures being dropped. Never throws into the caller. */
  onError: (err: unknown, what: string) => void;
  /** Requests whose capture files may wait in the queue before new ones are dropped; default 1000. */
  maxPending?: number;
  /** For `last_updated`; tests pass a fixed clock. */
  now?: () => number;
}

/** `CALLS_YYYYMMDD.json`: the later seed shape (§3.6), with the baseline's `count` kept equal to `total`. */
export interface CallsFile {
  date: string;
  count: number;
  /** Requests that ended while capture was on; `success + failed`. */
  total: number;
  success: number;
  failed: number;
  /** Attempts that timed out (the seeds count per timed-out attempt). */
  timeout: number;
  /** Attempts after the first: retries and failovers. */
  retry: number;
  last_updated: string | null;
}

type Counts = Pick<CallsFile, 'total' | 'success' | 'failed' | 'timeout' | 'retry'>;
type Job = () => Promise<void>;

export interface CaptureStats {
  written: number;
  dropped: number;
  pending: number;
}

export class CaptureWriter {
  readonly #o: Required<Omit<CaptureOptions, 'timezone'>>;
  readonly #tz: () => string;
  readonly #queue: Job[] = [];
  #draining: Promise<void> | null = null;
  #pending = 0;
  #written = 0;
  #dropped = 0;
  /** Set while dropping, so a burst of drops is reported once. */
  #dropping = false;
  /** CALLS increments not yet on disk, by file; one flush job applies them all. */
  readonly #calls = new Map<string, { dir: string; day: string; add: Counts }>();
  #callsQueued = false;
  /** Timed-out attempts of requests in flight, for CALLS when the end event carries no capture. */
  readonly #timeouts = new Map<string, number>();
  #unsub: Array<() => void> = [];

  constructor(opts: CaptureOptions) {
    this.#o = { ...opts, maxPending: opts.maxPending ?? 1000, now: opts.now ?? Date.now };
    const tz = opts.timezone ?? 'UTC';
    this.#tz = typeof tz === 'string' ? () => tz : tz;
  }

  start(): void {
    if (this.#unsub.length > 0) return;
    const onEnd = (m: unknown): void => this.#guard(() => this.#onRequestEnd(m as RequestEndEvent));
    const onAttempt = (m: unknown): void => this.#guard(() => this.#onAttemptEnd(m as AttemptEndEvent));
    channels.requestEnd.subscribe(onEnd);
    channels.attemptEnd.subscribe(onAttempt);
    this.#unsub = [() => channels.requestEnd.unsubscribe(onEnd), () => channels.attemptEnd.unsubscribe(onAttempt)];
  }

  /** Stop listening, then wait until everything queued (captures and counters) is on disk. */
  async close(): Promise<void> {
    for (const u of this.#unsub) u();
    this.#unsub = [];
    this.#timeouts.clear();
    while (this.#draining) await this.#draining;
  }

  stats(): CaptureStats {
    return { written: this.#written, dropped: this.#dropped, pending: this.#pending };
  }

  /** A throw inside a diagnostics_channel subscriber would surface as an uncaught exception. */
  #guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.#o.onError(e, 'debug capture: event handler failed');
    }
  }

  #onAttemptEnd(a: AttemptEndEvent): void {
    if (a.instance !== this.#o.instance || a.cls !== 'timeout' || !this.#o.enabled()) return;
    // Entries leave at the request's end; the cap only guards against ends that never come.
    if (this.#timeouts.size > 10_000) this.#timeouts.clear();
    this.#timeouts.set(a.requestId, (this.#timeouts.get(a.requestId) ?? 0) + 1);
  }

  #onRequestEnd(e: RequestEndEvent): void {
    if (e.instance !== this.#o.instance) return;
    const timedOut = this.#timeouts.get(e.requestId) ?? 0;
    this.#timeouts.delete(e.requestId);
    if (!e.capture && !this.#o.enabled()) return;
    const dir = this.#o.dir();
    if (e.capture) this.#queueCapture(dir, e, e.capture);
    const failed = e.status >= 400 || e.error !== null;
    this.#count(dir, dayKey(e.at + e.latencyMs, this.#tz()), {
      total: 1, success: failed ? 0 : 1, failed: failed ? 1 : 0,
      timeout: e.capture ? e.capture.attempts.filter((a) => a.cls === 'timeout').length : timedOut,
      retry: Math.max(0, e.attempts - 1),
    });
  }

  #queueCapture(dir: string, e: RequestEndEvent, capture: NonNullable<RequestEndEvent['capture']>): void {
    if (this.#pending >= this.#o.maxPending) {
      this.#dropped++;
      if (!this.#dropping) {
        this.#dropping = true;
        this.#o.onError(new Error(`more than ${this.#o.maxPending} requests waiting to be written`), 'debug capture: disk too slow, dropping captures');
      }
      return;
    }
    this.#pending++;
    this.#push(async () => {
      try {
        await this.#writeCapture(dir, e, capture);
        this.#written++;
      } finally {
        this.#pending--;
        if (this.#pending === 0) this.#dropping = false;
      }
    });
  }

  async #writeCapture(dir: string, e: RequestEndEvent, capture: NonNullable<RequestEndEvent['capture']>): Promise<void> {
    const id = shortId(e.requestId);
    const attempts = capture.attempts.map((a) => ({ endpoint: a.endpointId, status: a.status, class: a.cls, latencyMs: Math.round(a.latencyMs), message: a.message }));
    const failed = e.status >= 400 || e.error !== null;
    const end = e.at + e.latencyMs;
    const result = failed ? { status: e.status, class: e.cls, error: e.error, response: capture.response ?? undefined } : capture.response;
    await Promise.all([
      this.#writeJson(dir, `${this.#stamp(e.at)}_REQUEST_${id}.json`, { timestamp: new Date(e.at).toISOString(), type: 'REQUEST', message_id: id, data: capture.request, attempts }),
      this.#writeJson(dir, `${this.#stamp(end)}_${failed ? 'ERROR' : 'RESPONSE'}_${id}.json`, {
        timestamp: new Date(end).toISOString(), type: failed ? 'ERROR' : 'RESPONSE', message_id: id, data: result, attempts,
      }),
    ]);
  }

  #count(dir: string, day: string, add: Counts): void {
    const k = path.join(dir, day);
    const cur = this.#calls.get(k);
    if (cur) for (const f of Object.keys(add) as Array<keyof Counts>) cur.add[f] += add[f];
    else this.#calls.set(k, { dir, day, add });
    if (this.#callsQueued) return;
    this.#callsQueued = true;
    this.#push(() => this.#flushCalls());
  }

  /** Read-modify-write of each CALLS file touched since the last flush; the queue serialises these. */
  async #flushCalls(): Promise<void> {
    this.#callsQueued = false;
    const batch = [...this.#calls.values()];
    this.#calls.clear();
    for (const { dir, day, add } of batch) {
      const file = path.join(dir, `CALLS_${day}.json`);
      const cur = await this.#readCalls(file, day);
      for (const f of Object.keys(add) as Array<keyof Counts>) cur[f] += add[f];
      cur.count = cur.total;
      cur.last_updated = new Date(this.#o.now()).toISOString();
      await this.#writeJson(dir, path.basename(file), cur, true);
    }
  }

  async #readCalls(file: string, day: string): Promise<CallsFile> {
    const fresh: CallsFile = { date: day, count: 0, total: 0, success: 0, failed: 0, timeout: 0, retry: 0, last_updated: null };
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.#o.onError(e, `debug capture: cannot read ${file}; starting the day's counters over`);
      return fresh;
    }
    try {
      const old = JSON.parse(text) as Record<string, unknown>;
      if (typeof old !== 'object' || old === null || Array.isArray(old)) throw new Error('not a JSON object');
      // Older files (the baseline tool's `{date, count, last_updated}`) lack fields: those start at 0.
      const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);
      const total = num(old.total) || num(old.count);
      return { ...fresh, total, count: total, success: num(old.success), failed: num(old.failed), timeout: num(old.timeout), retry: num(old.retry) };
    } catch (e) {
      this.#o.onError(e, `debug capture: ${file} is corrupt; starting the day's counters over`);
      return fresh;
    }
  }

  /**
   * Redacted, pretty JSON; the folder is made only when a write finds it missing. `atomic` (CALLS)
   * writes a temporary file and renames it, so a crash never leaves a half-written counter.
   */
  async #writeJson(dir: string, name: string, value: unknown, atomic = false): Promise<void> {
    const text = JSON.stringify(redactDeep(value), null, 2);
    const file = path.join(dir, name);
    const write = async (): Promise<void> => {
      if (!atomic) return writeFile(file, text);
      await writeFile(`${file}.tmp`, text);
      await rename(`${file}.tmp`, file);
    };
    try {
      await write();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      await mkdir(dir, { recursive: true });
      await write();
    }
  }

  #push(job: Job): void {
    this.#queue.push(job);
    this.#draining ??= this.#drain();
  }

  async #drain(): Promise<void> {
    for (let job = this.#queue.shift(); job; job = this.#queue.shift()) {
      try {
        await job();
      } catch (e) {
        this.#o.onError(e, 'debug capture: write failed');
      }
    }
    this.#draining = null;
  }

  /** `YYYYMMDD_HHMMSS_mmm` in the configured timezone. */
  #stamp(t: number): string {
    const d = new Date(t + tzOffsetMs(t, this.#tz()));
    const p = (n: number, w = 2): string => String(n).padStart(w, '0');
    return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}_${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}_${p(d.getUTCMilliseconds(), 3)}`;
  }
}

/**
 * The first 8 hex digits of the request id. Only hex survives, so an id can never steer the path;
 * a short one is padded with zeros.
 */
export function shortId(requestId: string): string {
  return requestId.toLowerCase().replace(/[^0-9a-f]/g, '').slice(0, 8).padEnd(8, '0');
}
