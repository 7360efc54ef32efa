import type { ReceivedRequest } from './types.ts';

interface Waiter {
  resolve: (rec: ReceivedRequest) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Client aborts as a FIFO: each `next()` takes the oldest abort not yet handed out, waiting for
 * one if needed. Aborts that happened before the call count, so tests never race the socket.
 */
export class AbortWaiters {
  #seen: ReceivedRequest[] = [];
  #waiters: Waiter[] = [];

  push(rec: ReceivedRequest): void {
    const waiter = this.#waiters.shift();
    if (!waiter) {
      this.#seen.push(rec);
      return;
    }
    clearTimeout(waiter.timer);
    waiter.resolve(rec);
  }

  next(timeoutMs: number): Promise<ReceivedRequest> {
    const ready = this.#seen.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          reject(new Error(`MockUpstream: no client abort within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.#waiters.push(waiter);
    });
  }

  /** Forgets aborts not yet handed out (pending waiters keep waiting). */
  clear(): void {
    this.#seen = [];
  }

  rejectAll(err: Error): void {
    for (const w of this.#waiters) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    this.#waiters = [];
  }
}
