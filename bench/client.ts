/**
 * A plain node:http client for the probes that autocannon cannot do: exact bytes, time to first
 * byte, the arrival time of every SSE event, many long-lived streams.
 */
import { Agent, request } from 'node:http';
import type { ClientRequest, IncomingHttpHeaders } from 'node:http';

export interface Exchange {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** ms from sending the request to the response headers. */
  headersMs: number;
  /** ms from sending the request to the first body byte (NaN if the body was empty). */
  firstByteMs: number;
  /** ms from sending the request to the end of each complete SSE event (`\n\n`). */
  eventMs: number[];
}

export interface Target {
  url: string;
  headers: Record<string, string>;
}

/** POSTs `body` and reads the whole answer. Rejects on socket errors and after `timeoutMs`. */
export function post(t: Target, body: string, agent: Agent, timeoutMs = 15_000): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const headers = { ...t.headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) };
    const req = request(t.url, { method: 'POST', agent, headers }, (res) => {
      const headersMs = performance.now() - t0;
      const parts: Buffer[] = [];
      const eventMs: number[] = [];
      let firstByteMs = NaN;
      let prevLast = 0;
      res.on('data', (d: Buffer) => {
        const now = performance.now() - t0;
        if (parts.length === 0) firstByteMs = now;
        // count "\n\n" boundaries, including one split across two reads
        if (prevLast === 10 && d[0] === 10) eventMs.push(now);
        for (let i = d.indexOf('\n\n'); i >= 0; i = d.indexOf('\n\n', i + 2)) eventMs.push(now);
        prevLast = d[d.length - 1] ?? 0;
        parts.push(d);
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts), headersMs, firstByteMs, eventMs });
      });
      res.on('error', reject);
    });
    const timer = setTimeout(() => req.destroy(new Error(`no complete answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(body);
  });
}

export interface OpenStream {
  req: ClientRequest;
  /** Resolves with the status once the first body byte arrived; rejects on error or timeout. */
  started: Promise<number>;
}

/** Opens a stream and keeps it open (reading and dropping its bytes) until `req.destroy()`. */
export function openStream(t: Target, body: string, agent: Agent, timeoutMs: number): OpenStream {
  let req: ClientRequest | undefined;
  const started = new Promise<number>((resolve, reject) => {
    const headers = { ...t.headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) };
    const timer = setTimeout(() => reject(new Error('timeout')), timeoutMs);
    const done = (status: number): void => {
      clearTimeout(timer);
      resolve(status);
    };
    req = request(t.url, { method: 'POST', agent, headers }, (res) => {
      res.once('data', () => done(res.statusCode ?? 0));
      res.on('data', () => undefined);
      res.on('end', () => done(res.statusCode ?? 0));
      res.on('error', () => undefined);
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(body);
  });
  started.catch(() => undefined);
  if (!req) throw new Error('request not created');
  return { req, started };
}

export function newAgent(keepAlive: boolean): Agent {
  return new Agent({ keepAlive, maxSockets: Infinity });
}
