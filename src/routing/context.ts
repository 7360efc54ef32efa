/**
 * What the routing layer knows about one client request, and what it needs from the rest of the
 * gateway. Built by http/, run by executor.ts.
 */
import type { ServerResponse } from 'node:http';
import type { ClientPrincipal, Snapshot } from '../config/compile.ts';
import type { Clock } from '../core/clock.ts';
import type { AttemptEndEvent } from '../core/events.ts';
import type { HealthTracker } from '../health/tracker.ts';
import type { EndpointLimiter } from '../limits/types.ts';
import type { UpstreamClients } from '../upstream/client.ts';
import type { RoundRobin } from './planner.ts';

export type RequestKind = 'chat' | 'completions' | 'embeddings';

export const kindPath: Record<RequestKind, string> = {
  chat: '/chat/completions',
  completions: '/completions',
  embeddings: '/embeddings',
};

/** What can be aborted with a reason and says whether it was, and why: an AbortSignal's shape. */
export interface Abortable {
  readonly aborted: boolean;
  readonly reason?: unknown;
}

/**
 * A request's abort controller that also aborts the attempt in progress: one direct call instead of
 * an abort listener added and removed on the request's signal for every attempt.
 */
export class RequestController extends AbortController {
  /** The upstream call of the attempt in progress, if any (routing/run-attempt.ts). */
  attempt: { abort(reason: unknown): void } | null = null;
  /** Its place in the gateway's `InflightRequests` (null links and no list when not in one). */
  inflightList: InflightRequests | null = null;
  inflightPrev: RequestController | null = null;
  inflightNext: RequestController | null = null;

  abort(reason?: unknown): void {
    super.abort(reason);
    this.attempt?.abort(reason);
  }
}

/**
 * The requests in flight (for shutdown: wait for them, then abort what is left), linked through their
 * controllers: a Set of them cost an identity hash for every new controller and a hash-table insert
 * and delete a request (bench/HISTORY.md, nineteenth round). Iterates over a copy, so aborting inside
 * the loop (which ends requests, and removes them) is safe.
 */
export class InflightRequests implements Iterable<RequestController> {
  #head: RequestController | null = null;
  #size = 0;

  get size(): number {
    return this.#size;
  }

  add(c: RequestController): void {
    if (c.inflightList !== null) return;
    c.inflightList = this;
    c.inflightNext = this.#head;
    if (this.#head !== null) this.#head.inflightPrev = c;
    this.#head = c;
    this.#size++;
  }

  delete(c: RequestController): void {
    if (c.inflightList !== this) return;
    if (c.inflightPrev !== null) c.inflightPrev.inflightNext = c.inflightNext;
    else this.#head = c.inflightNext;
    if (c.inflightNext !== null) c.inflightNext.inflightPrev = c.inflightPrev;
    c.inflightList = c.inflightPrev = c.inflightNext = null;
    this.#size--;
  }

  [Symbol.iterator](): Iterator<RequestController> {
    const all: RequestController[] = [];
    for (let c = this.#head; c !== null; c = c.inflightNext) all.push(c);
    return all[Symbol.iterator]();
  }
}

export interface RequestContext {
  readonly id: string;
  readonly kind: RequestKind;
  readonly snapshot: Snapshot;
  /**
   * The parsed body (validated); forwarded re-serialised only when something in it must change.
   * Released (`releaseBody`) once a stream has committed, unless debug capture records it. Its
   * strings' non-ASCII text is as sent only when `bodyExact`: what reads them takes `exactBody`.
   */
  readonly body: Record<string, unknown>;
  /** False when `body` was parsed from the bytes read as latin1 (dialects/openai/validate.ts `parseLatin1Shape`). */
  readonly bodyExact: boolean;
  /** The body as received, forwarded byte for byte when nothing changes. Released with `body`. */
  readonly raw: Buffer;
  /** True when validation changed the body (prompt → messages, forbidden fields removed, repair). */
  readonly bodyChanged: boolean;
  readonly repaired: boolean;
  readonly stream: boolean;
  /** The caller asked for `stream_options.include_usage`. */
  readonly includeUsage: boolean;
  readonly model: string;
  readonly principal: ClientPrincipal | null;
  readonly res: ServerResponse;
  /** Aborted when the client goes away (reason: `clientGone`) or the deadline passes (`deadline`). */
  readonly controller: RequestController;
  readonly signal: AbortSignal;
  /** performance.now() when the request arrived. */
  readonly t0: number;
  /** Date.now() when the request arrived. */
  readonly at: number;
  readonly attempts: AttemptEndEvent[];
  /** Debug capture on for this request. */
  readonly capture: boolean;
}

const releasedBody: Record<string, unknown> = Object.freeze({});
/** An empty body's bytes: what `raw` is once released, and a body-less request's. */
export const noBytes = Buffer.alloc(0);

/**
 * Drop the request's body once a stream has committed (its head written): from then on a failure
 * ends the stream and no other attempt will send the body, and only debug capture reads it at the
 * end. A stream may stay open for minutes, and a chat's body is often tens of kilobytes: held as
 * received and parsed by every open stream, it was most of the gateway's memory a stream
 * (bench/HISTORY.md, twenty-third round). Only the relay calls this; everything else keeps `body`
 * and `raw` as they were built.
 */
export function releaseBody(ctx: RequestContext): void {
  if (ctx.capture) return;
  const c = ctx as { body: Record<string, unknown>; raw: Buffer };
  c.body = releasedBody;
  c.raw = noBytes;
}

/**
 * The body with its strings as sent, for what reads them (a re-serialised body): parsed again from
 * the bytes as UTF-8, once, when `body` was read as latin1. The bytes parsed then, so they parse now.
 */
export function exactBody(ctx: RequestContext): Record<string, unknown> {
  if (ctx.bodyExact || ctx.raw === noBytes) return ctx.body;
  const c = ctx as { body: Record<string, unknown>; bodyExact: boolean };
  c.body = JSON.parse(ctx.raw.toString('utf8')) as Record<string, unknown>;
  c.bodyExact = true;
  return c.body;
}

export interface RoutingDeps {
  /** This gateway instance's id (events carry it). */
  readonly instance: string;
  readonly tracker: HealthTracker;
  readonly clients: UpstreamClients;
  readonly rr: RoundRobin;
  readonly limiter: EndpointLimiter;
  readonly clock: Clock;
}

/** Reasons an AbortSignal is aborted with, so the cause of an abort is never guessed. */
export const abortReasons = {
  clientGone: Object.freeze({ llmux: 'client_gone' }),
  deadline: Object.freeze({ llmux: 'deadline' }),
  attemptTimeout: Object.freeze({ llmux: 'attempt_timeout' }),
  shutdown: Object.freeze({ llmux: 'shutdown' }),
} as const;

export function abortKind(signal: Abortable): string | null {
  const r = signal.reason as { llmux?: string } | undefined;
  return signal.aborted ? (r?.llmux ?? 'unknown') : null;
}
