/**
 * The gateway's own admission (SPEC §6): at most `maxConcurrency` requests in flight; up to
 * `queue.size` more wait (FIFO) for at most `queue.timeoutMs`; past that, 429. A waiter whose client
 * leaves is removed at once.
 */
import { LlmuxError } from '../core/errors.ts';

interface Waiter {
  resolve: (release: () => void) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  signal: AbortSignal;
  onAbort: () => void;
}

export class ConcurrencyGate {
  max: number;
  queueSize: number;
  queueTimeoutMs: number;
  #active = 0;
  #waiting: Waiter[] = [];

  constructor(max: number, queueSize: number, queueTimeoutMs: number) {
    this.max = max;
    this.queueSize = queueSize;
    this.queueTimeoutMs = queueTimeoutMs;
  }

  get active(): number {
    return this.#active;
  }

  get queued(): number {
    return this.#waiting.length;
  }

  #release = (): void => {
    const next = this.#waiting.shift();
    if (next) {
      clearTimeout(next.timer);
      next.signal.removeEventListener('abort', next.onAbort);
      next.resolve(this.#once());
    } else {
      this.#active--;
    }
  };

  #once(): () => void {
    let done = false;
    return () => {
      if (!done) {
        done = true;
        this.#release();
      }
    };
  }

  /** A slot now if one is free (the release function), else null: the request path's no-wait case. */
  tryAcquire(): (() => void) | null {
    if (this.#active >= this.max || this.#waiting.length > 0) return null;
    this.#active++;
    return this.#once();
  }

  acquire(signal: AbortSignal): Promise<() => void> {
    if (this.#active < this.max) {
      this.#active++;
      return Promise.resolve(this.#once());
    }
    if (this.#waiting.length >= this.queueSize) {
      return Promise.reject(new LlmuxError('LLMUX_ERR_QUEUE_FULL', `llmux is at server.maxConcurrency (${this.max}) and its queue (${this.queueSize}) is full; retry shortly.`, { retryAfterS: 1 }));
    }
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        resolve, reject, signal,
        timer: setTimeout(() => {
          this.#remove(w);
          reject(new LlmuxError('LLMUX_ERR_QUEUE_FULL', `Waited ${this.queueTimeoutMs} ms in llmux's queue without a free slot; retry shortly.`, { retryAfterS: 1 }));
        }, this.queueTimeoutMs),
        onAbort: () => {
          this.#remove(w);
          clearTimeout(w.timer);
          reject(new LlmuxError('LLMUX_ERR_INTERNAL', 'the client went away while queued'));
        },
      };
      signal.addEventListener('abort', w.onAbort, { once: true });
      this.#waiting.push(w);
    });
  }

  #remove(w: Waiter): void {
    const i = this.#waiting.indexOf(w);
    if (i !== -1) this.#waiting.splice(i, 1);
    w.signal.removeEventListener('abort', w.onAbort);
  }
}
