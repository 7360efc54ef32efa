/**
 * Client keys made with `llmux keys create` or the admin API live in the store; the request path looks
 * them up synchronously in this cache (by SHA-256, never by the key). The cache is refreshed whenever
 * the store's config version moves (another instance created or revoked a key), so a revoke takes
 * effect everywhere within the poll interval.
 */
import type { ClientPrincipal } from '../config/compile.ts';
import type { ClientKeyRecord, Store } from '../store/types.ts';

function toPrincipal(r: ClientKeyRecord): ClientPrincipal {
  const budget = r.budgetTokens === null ? undefined : typeof r.budgetTokens === 'number' ? { day: r.budgetTokens } : r.budgetTokens;
  return {
    id: r.id, name: r.name ?? r.prefix, hash: r.hash, prefix: r.prefix, limits: r.limits, models: r.models ?? undefined,
    budgetTokens: budget, expiresAt: r.expiresAt ?? undefined, source: 'store',
  };
}

export class StoredKeys {
  readonly #store: Store;
  #byHash = new Map<string, ClientPrincipal>();
  #issued = 0;
  #lastTouch = new Map<string, number>();

  constructor(store: Store) {
    this.#store = store;
  }

  async refresh(): Promise<void> {
    const all = await this.#store.listKeys();
    const next = new Map<string, ClientPrincipal>();
    for (const r of all) if (r.revokedAt === null) next.set(r.hash, toPrincipal(r));
    this.#byHash = next;
    this.#issued = all.length;
  }

  lookup = (hash: string): ClientPrincipal | undefined => this.#byHash.get(hash);

  /**
   * Keys ever issued in the store, revoked ones included: what decides whether /v1 asks for a key
   * (http/auth.ts `isOpen`). Counting only active keys would make revoking the last key open the
   * gateway to anyone — a revoke must never widen access.
   */
  get count(): number {
    return this.#issued;
  }

  /** Record a use at most once a minute per key, off the request path. */
  touch(p: ClientPrincipal, now: number, onError: (e: unknown) => void): void {
    if (p.source !== 'store') return;
    const last = this.#lastTouch.get(p.id) ?? 0;
    if (now - last < 60_000) return;
    this.#lastTouch.set(p.id, now);
    this.#store.touchKey(p.id, now).catch(onError);
  }
}
