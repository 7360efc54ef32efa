import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ReceivedRequest } from './types.ts';

interface PendingSleep {
  timer: NodeJS.Timeout;
  resolve: () => void;
}

/**
 * One request/response pair and every timer it owns. All waiting goes through `sleep`, so when
 * the response closes (client gone, socket cut, server closing) the timers are cleared at once and
 * `close()` of the server leaves no handles behind.
 */
export class Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly record: ReceivedRequest;
  /** The response is closed; any writer loop must stop. */
  closed = false;
  #cutByUs = false;
  #sleeps = new Set<PendingSleep>();

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    record: ReceivedRequest,
    onClientAbort: (rec: ReceivedRequest) => void,
  ) {
    this.req = req;
    this.res = res;
    this.record = record;
    // Writes to a destroyed socket surface here; the fake must never crash the test process.
    res.on('error', () => {});
    // res 'close' (not req 'close', which fires once the body is read) is the disconnect signal;
    // writableEnded tells a finished response from one cut short.
    res.on('close', () => {
      this.closed = true;
      this.#clearSleeps();
      if (res.headersSent) record.status = res.statusCode;
      if (!res.writableEnded && !this.#cutByUs) {
        record.aborted = true;
        onClientAbort(record);
      }
    });
  }

  /** Resolves after `ms`, or at once when the response closes (callers re-check `closed`). */
  sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const entry: PendingSleep = {
        resolve,
        timer: setTimeout(() => {
          this.#sleeps.delete(entry);
          resolve();
        }, ms),
      };
      this.#sleeps.add(entry);
    });
  }

  /** Writes with backpressure: waits for 'drain' (or close) when the socket buffer is full. */
  async write(chunk: string | Buffer): Promise<void> {
    if (this.closed) return;
    if (this.res.write(chunk)) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }

  /** Ends the connection on purpose: RST ('reset', ECONNRESET for the client) or FIN ('close'). */
  cut(kind: 'reset' | 'close'): void {
    this.#cutByUs = true;
    const socket = this.req.socket;
    if (kind === 'reset' && typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
    else socket.destroy();
  }

  /** Server shutdown: not a client abort, and no timer may outlive it. */
  shutdown(): void {
    this.#cutByUs = true;
    this.#clearSleeps();
    this.req.socket.destroy();
  }

  #clearSleeps(): void {
    for (const s of this.#sleeps) {
      clearTimeout(s.timer);
      s.resolve();
    }
    this.#sleeps.clear();
  }
}
