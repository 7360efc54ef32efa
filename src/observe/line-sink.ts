/**
 * Where log lines go: stdout or a file, written in batches so that the request path only copies a
 * line into a buffer. A batch is written (one `fs.write`, off the event loop) once it holds 64 KB, or
 * at least every second; only one write is in flight at a time, lines logged meanwhile join the next.
 * pino's own async destination (sonic-boom) cost 3–4 µs of CPU a line under load (BENCHMARKS.md).
 * Each line is encoded into the batch's buffer as it comes (`Buffer#write`): joining the lines' strings
 * and encoding the batch at once cost about 1.1 µs a line under load, most of it in the join
 * (bench/HISTORY.md, nineteenth round).
 *
 * Never blocks and never throws at the caller: a destination that cannot keep up (a full pipe
 * answers EAGAIN) is retried shortly; past `maxBufferBytes` waiting, new lines are dropped and
 * counted, and a line saying how many is written once the destination catches up. Errors other than
 * EAGAIN are reported once through `onError`, and the lines of that batch are dropped.
 */
import { close, closeSync, mkdirSync, open, openSync, write, writeSync } from 'node:fs';
import path from 'node:path';

export interface LineSinkOptions {
  /** A file descriptor (1 = stdout) or a path (opened for appending, its folder created). */
  dest: number | string;
  /** Bytes that start a write at once. Default 64 KB. */
  batchBytes?: number;
  /** Longest time a line waits. Default 1000 ms. */
  flushMs?: number;
  /** Lines waiting beyond this are dropped (and counted). Default 16 MB. */
  maxBufferBytes?: number;
  onError?: (err: Error) => void;
}

/** Sinks still open: what they hold is written synchronously when the process exits, however it exits. */
const live = new Set<LineSink>();
let exitHook = false;
function watchExit(s: LineSink): void {
  live.add(s);
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const x of live) x.flushSync();
  });
}

/** A short synchronous wait (for a full pipe at exit). */
function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export class LineSink {
  readonly #dest: number | string;
  readonly #batchBytes: number;
  readonly #maxBuffer: number;
  readonly #onError: (err: Error) => void;
  #fd: number | null;
  #opening = false;
  /** Filled buffers waiting, in order; then `#cur`, filled up to `#used`. */
  #full: Buffer[] = [];
  #cur: Buffer | null = null;
  #used = 0;
  /** Bytes waiting: `#full` and `#cur`'s. */
  #bytes = 0;
  #writing = false;
  #dropped = 0;
  #closed = false;
  #reported = false;
  #waiters: Array<() => void> = [];
  readonly #timer: NodeJS.Timeout;

  constructor(o: LineSinkOptions) {
    this.#dest = o.dest;
    this.#fd = typeof o.dest === 'number' ? o.dest : null;
    this.#batchBytes = o.batchBytes ?? 64 * 1024;
    this.#maxBuffer = o.maxBufferBytes ?? 16 * 1024 * 1024;
    this.#onError = o.onError ?? (() => {});
    this.#timer = setInterval(() => this.#flush(), o.flushMs ?? 1000);
    this.#timer.unref();
    watchExit(this);
  }

  write(line: string): boolean {
    if (this.#closed) return false;
    if (this.#bytes + line.length > this.#maxBuffer) {
      this.#dropped++;
      return false;
    }
    this.#append(line);
    if (this.#bytes >= this.#batchBytes) this.#flush();
    return true;
  }

  /** Encode `line` (UTF-8) behind what waits. */
  #append(line: string): void {
    // At most three bytes a UTF-16 unit: room checked without measuring the line first.
    const most = line.length * 3;
    let cur = this.#cur;
    if (cur === null || cur.length - this.#used < most) {
      this.#seal();
      if (most > this.#batchBytes) {
        // Longer than a batch: a buffer of its own.
        const b = Buffer.from(line);
        this.#full.push(b);
        this.#bytes += b.length;
        return;
      }
      // Never reused: a buffer handed to a write belongs to it until the write is done.
      cur = this.#cur = Buffer.allocUnsafeSlow(this.#batchBytes);
    }
    const n = cur.write(line, this.#used);
    this.#used += n;
    this.#bytes += n;
  }

  /** The current buffer, as far as it is filled, joins the full ones. */
  #seal(): void {
    if (this.#cur !== null && this.#used > 0) this.#full.push(this.#cur.subarray(0, this.#used));
    this.#cur = null;
    this.#used = 0;
  }

  /** Calls back once everything written so far has reached the destination (or failed). */
  flush(cb?: (err?: Error) => void): void {
    if (!this.#writing && this.#bytes === 0 && this.#dropped === 0) {
      cb?.();
      return;
    }
    if (cb) this.#waiters.push(() => cb());
    this.#flush();
  }

  /** Writes what is waiting synchronously (at exit, when no callback will run any more). */
  flushSync(): void {
    // A write in flight may finish later or not at all; what waits is written now, after it if it does.
    const buf = this.#take();
    if (!buf) return;
    try {
      const fd = this.#fd ?? this.#openSync();
      // stdout may be a non-blocking pipe: a full one answers EAGAIN; wait for it (up to ~2 s).
      let waited = 0;
      for (let off = 0; off < buf.length; ) {
        try {
          off += writeSync(fd, buf, off);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EAGAIN' || waited >= 2000) throw e;
          sleepMs(10);
          waited += 10;
        }
      }
    } catch (e) {
      this.#report(e as Error);
    }
  }

  /** Flush, then close a file (never stdout). Later lines are ignored. */
  end(): Promise<void> {
    return new Promise((resolve) => {
      this.flush(() => {
        this.#closed = true;
        live.delete(this);
        clearInterval(this.#timer);
        const fd = this.#fd;
        if (fd === null || typeof this.#dest === 'number') return resolve();
        this.#fd = null;
        close(fd, () => resolve());
      });
    });
  }

  #take(): Buffer | null {
    if (this.#dropped > 0) {
      this.#append(`${JSON.stringify({ level: 40, time: Date.now(), dropped: this.#dropped, msg: 'log lines dropped: the log destination did not keep up' })}\n`);
      this.#dropped = 0;
    }
    this.#seal();
    const full = this.#full;
    if (full.length === 0) return null;
    this.#full = [];
    this.#bytes = 0;
    return full.length === 1 ? full[0]! : Buffer.concat(full);
  }

  #flush(): void {
    if (this.#writing) return;
    if (this.#fd === null) {
      this.#open();
      return;
    }
    const buf = this.#take();
    if (!buf) return this.#settle();
    this.#writing = true;
    this.#writeOut(this.#fd, buf, 0);
  }

  #writeOut(fd: number, buf: Buffer, off: number): void {
    write(fd, buf, off, buf.length - off, null, (err, n) => {
      if (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          // A full pipe: try again shortly, keeping the order of lines.
          setTimeout(() => this.#writeOut(fd, buf, off), 20).unref();
          return;
        }
        this.#report(err);
        return this.#done();
      }
      if (off + n < buf.length) return this.#writeOut(fd, buf, off + n);
      this.#done();
    });
  }

  #done(): void {
    this.#writing = false;
    if (this.#bytes >= this.#batchBytes || (this.#waiters.length > 0 && (this.#bytes > 0 || this.#dropped > 0))) this.#flush();
    else this.#settle();
  }

  #settle(): void {
    if (this.#writing || this.#bytes > 0) return;
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  #open(): void {
    if (this.#opening) return;
    this.#opening = true;
    const file = this.#dest as string;
    try {
      mkdirSync(path.dirname(file), { recursive: true });
    } catch {
      /* open reports it */
    }
    open(file, 'a', (err, fd) => {
      this.#opening = false;
      if (err) {
        this.#report(err);
        this.#full = [];
        this.#cur = null;
        this.#used = 0;
        this.#bytes = 0;
        return this.#settle();
      }
      if (this.#closed || this.#fd !== null) {
        // ended meanwhile, or opened synchronously by flushSync
        closeSync(fd);
        if (this.#fd !== null) this.#flush();
        return;
      }
      this.#fd = fd;
      this.#flush();
    });
  }

  #openSync(): number {
    const file = this.#dest as string;
    mkdirSync(path.dirname(file), { recursive: true });
    this.#fd = openSync(file, 'a');
    return this.#fd;
  }

  #report(err: Error): void {
    if (this.#reported) return;
    this.#reported = true;
    this.#onError(err);
  }
}
