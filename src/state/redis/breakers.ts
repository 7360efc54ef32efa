/**
 * Breaker snapshots in Redis, with pub/sub change notification: a breaker opened through one
 * instance reaches every other instance's `onChange` as soon as Redis delivers the message (well
 * under a second on a healthy network). Each change is also mirrored, silently, into the fallback
 * memory state, so an outage does not make the instance forget which endpoints are open.
 */
import type { Redis } from 'ioredis';
import type { MemoryState } from '../memory.ts';
import type { BreakerState } from '../types.ts';
import { Script } from './client.ts';
import { BREAKER_ALL, BREAKER_SET } from './scripts.ts';

const setScript = new Script(BREAKER_SET);
const allScript = new Script(BREAKER_ALL);

/** Runs `remote` on Redis when it is usable, else (or when it fails) `local` on the fallback. */
export type Call = <T>(remote: (client: Redis) => Promise<T>, local: () => Promise<T>) => Promise<T>;

type Listener = (endpointId: string, snapshot: string | undefined) => void;

interface ChangeMessage {
  id: string;
  snapshot: string | null;
  ttlMs: number;
}

export class RedisBreakers implements BreakerState {
  readonly #call: Call;
  readonly #fallback: MemoryState;
  readonly #prefix: string;
  readonly #channel: string;
  readonly #listeners = new Set<Listener>();

  constructor(call: Call, fallback: MemoryState, prefix: string) {
    this.#call = call;
    this.#fallback = fallback;
    this.#prefix = prefix;
    this.#channel = `${prefix}breakers:changes`;
    // While degraded, `set` goes to the fallback, whose own notifications stand in for pub/sub.
    fallback.breakers.onChange((id, snapshot) => this.#emit(id, snapshot));
  }

  /**
   * Subscribe `sub` to the change channel; it re-subscribes by itself after reconnects. Resolves once
   * Redis has confirmed the subscription (never rejects): changes published before that are not heard.
   */
  listen(sub: Redis): Promise<void> {
    sub.on('message', (channel: string, message: string) => {
      if (channel === this.#channel) this.#onMessage(message);
    });
    return sub.subscribe(this.#channel).then(() => undefined, () => undefined);
  }

  get(endpointId: string): Promise<string | undefined> {
    return this.#call(
      async (c) => (await c.get(this.#key(endpointId))) ?? undefined,
      () => this.#fallback.breakers.get(endpointId),
    );
  }

  set(endpointId: string, snapshot: string, ttlMs: number): Promise<void> {
    return this.#write(endpointId, snapshot, Math.max(1, Math.ceil(ttlMs)));
  }

  delete(endpointId: string): Promise<void> {
    return this.#write(endpointId, undefined, 0);
  }

  getAll(): Promise<Map<string, string>> {
    return this.#call(async (c) => {
      const flat = (await allScript.run(c, [this.#index()], [`${this.#prefix}breaker:`])) as string[];
      const out = new Map<string, string>();
      for (let i = 0; i + 1 < flat.length; i += 2) out.set(String(flat[i]), String(flat[i + 1]));
      return out;
    }, () => this.#fallback.breakers.getAll());
  }

  onChange(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  #write(endpointId: string, snapshot: string | undefined, ttlMs: number): Promise<void> {
    const message: ChangeMessage = { id: endpointId, snapshot: snapshot ?? null, ttlMs };
    return this.#call(
      async (c) => {
        await setScript.run(c, [this.#key(endpointId), this.#index()], [endpointId, snapshot ?? '', ttlMs, this.#channel, JSON.stringify(message)]);
        this.#fallback.breakers.mirror(endpointId, snapshot, ttlMs);
      },
      () => (snapshot === undefined ? this.#fallback.breakers.delete(endpointId) : this.#fallback.breakers.set(endpointId, snapshot, ttlMs)),
    );
  }

  #onMessage(raw: string): void {
    let m: ChangeMessage;
    try {
      m = JSON.parse(raw) as ChangeMessage;
    } catch {
      return; // Not ours (someone else publishing on the channel): ignore.
    }
    if (typeof m.id !== 'string') return;
    const snapshot = typeof m.snapshot === 'string' ? m.snapshot : undefined;
    this.#fallback.breakers.mirror(m.id, snapshot, Number(m.ttlMs) || 0);
    this.#emit(m.id, snapshot);
  }

  #emit(id: string, snapshot: string | undefined): void {
    for (const l of this.#listeners) {
      try {
        l(id, snapshot);
      } catch {
        // A faulty listener must not stop the others.
      }
    }
  }

  #key(id: string): string {
    return `${this.#prefix}breaker:${id}`;
  }

  #index(): string {
    return `${this.#prefix}breakers`;
  }
}
