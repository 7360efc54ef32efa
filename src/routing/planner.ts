/**
 * Route → plan (SPEC §4.2–4.3): expand targets to endpoints (one per credential), drop disabled ones
 * and open breakers, order by priority (lower first) and, within one priority, by the route's balance.
 * Limits are checked by the executor when it takes an endpoint (they may need shared state).
 */
import type { CompiledProvider, CompiledRoute } from '../config/compile.ts';
import type { Balance } from '../config/schema.ts';
import type { EndpointHealth, HealthTracker } from '../health/tracker.ts';

export interface Endpoint {
  /** Stable identity: provider, key fingerprint, upstream model. Never contains the key. */
  readonly id: string;
  readonly provider: CompiledProvider;
  /** The credential; null for keyless local servers. */
  readonly key: string | null;
  readonly keyId: string;
  readonly model: string;
  readonly priority: number;
  readonly weight: number;
  readonly health: EndpointHealth;
}

export interface Plan {
  endpoints: Endpoint[];
  /** Endpoints dropped because their breaker is open, and the soonest one reopens. */
  breakerBlocked: number;
  breakerRetryAt: number;
  /** Endpoints dropped because the provider (or its limit of 0) disables them. */
  disabled: number;
}

/**
 * Round-robin positions: 0, 1, 2, … per key. The gateway passes the state's (`State.rr`), so with
 * Redis every instance draws from one sequence and consecutive requests alternate across instances
 * (SPEC §11); `LocalRoundRobin` is the in-process version.
 */
export interface RoundRobin {
  next(key: string): number | Promise<number>;
}

export class LocalRoundRobin implements RoundRobin {
  #pos = new Map<string, number>();
  next(key: string): number {
    const n = this.#pos.get(key) ?? 0;
    this.#pos.set(key, n + 1);
    return n;
  }
}

export function endpointId(p: CompiledProvider, keyId: string, model: string): string {
  return `${p.id}/${keyId}/${model}`;
}

/** Off: `enabled: false`, or a limit of 0 (SPEC §6). Such a provider gets no request at all, not even a probe. */
export function isDisabled(p: CompiledProvider): boolean {
  const l = p.limits;
  return !p.enabled || l.rpm === 0 || l.rpd === 0 || l.concurrency === 0 || l.tpm === 0 || l.tpd === 0;
}

export function expandEndpoints(route: CompiledRoute, callerModel: string, tracker: HealthTracker): Endpoint[] {
  const out: Endpoint[] = [];
  for (const t of route.targets) {
    const p = t.provider;
    // A target without a model uses the provider's first model; a provider without a list passes the caller's.
    const model = t.model ?? p.models[0] ?? p.modelMap[callerModel] ?? callerModel;
    const keys: Array<string | null> = p.keys.length > 0 ? (p.keys as string[]) : [null];
    for (let i = 0; i < keys.length; i++) {
      const keyId = p.keyIds[i] ?? 'nokey';
      const id = endpointId(p, keyId, model);
      out.push({ id, provider: p, key: keys[i] ?? null, keyId, model, priority: t.priority, weight: t.weight, health: tracker.get(id, p.breaker) });
    }
  }
  return out;
}

function shuffle<T>(a: T[]): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** Weighted random order without replacement (Efraimidis–Spirakis keys). */
function weightedOrder(a: Endpoint[]): Endpoint[] {
  return a
    .map((e) => ({ e, k: Math.random() ** (1 / e.weight) }))
    .sort((x, y) => y.k - x.k)
    .map((x) => x.e);
}

function rotate(group: Endpoint[], n: number): Endpoint[] {
  const start = n % group.length;
  return start === 0 ? group : [...group.slice(start), ...group.slice(0, start)];
}

/** Synchronous unless a shared round-robin position must be fetched. */
function orderGroup(group: Endpoint[], balance: Balance, route: string, prio: number, rr: RoundRobin): Endpoint[] | Promise<Endpoint[]> {
  if (group.length <= 1) return group;
  switch (balance) {
    case 'round-robin': {
      const n = rr.next(`${route}|${prio}`);
      return n instanceof Promise ? n.then((v) => rotate(group, v)) : rotate(group, n);
    }
    case 'weighted':
      return weightedOrder(group);
    case 'random':
      return shuffle(group);
    case 'least-busy':
      return shuffle(group).sort((a, b) => a.health.inflight - b.health.inflight);
    case 'least-latency':
      // Unmeasured endpoints first, so every endpoint gets measured.
      return shuffle(group).sort((a, b) => (a.health.ewmaMs ?? -1) - (b.health.ewmaMs ?? -1));
  }
}

interface Expanded {
  tracker: HealthTracker;
  /** Some target takes the caller's model, so the endpoints differ by caller model. */
  byCaller: boolean;
  byModel: Map<string, Endpoint[]>;
}

/**
 * A route's endpoints, expanded once per compiled route (a reload compiles new routes) and caller
 * model (only for routes with targets that take the caller's model): building them per request
 * (ids, objects, health lookups) was a measurable share of the request path. Endpoints are never
 * mutated; their `health` objects live as long as the tracker.
 */
const expandedRoutes = new WeakMap<CompiledRoute, Expanded>();

function endpointsOf(route: CompiledRoute, callerModel: string, tracker: HealthTracker): Endpoint[] {
  let x = expandedRoutes.get(route);
  if (x === undefined || x.tracker !== tracker) {
    x = { tracker, byCaller: route.targets.some((t) => t.model === undefined && t.provider.models.length === 0), byModel: new Map() };
    expandedRoutes.set(route, x);
  }
  const key = x.byCaller ? callerModel : '';
  let eps = x.byModel.get(key);
  if (eps === undefined) {
    // In priority order (a stable sort keeps the config's order within one): `plan` groups runs.
    eps = expandEndpoints(route, callerModel, tracker).sort((a, b) => a.priority - b.priority);
    if (x.byModel.size >= 1000) x.byModel.clear();
    x.byModel.set(key, eps);
  }
  return eps;
}

/**
 * The endpoints to try, in order. Synchronous unless a shared round-robin position must come from the
 * state (one call per group that needs it): awaiting costs the request path a microtask hop.
 */
export function plan(route: CompiledRoute, callerModel: string, tracker: HealthTracker, rr: RoundRobin, now: number): Plan | Promise<Plan> {
  const all = endpointsOf(route, callerModel, tracker);
  const result: Plan = { endpoints: [], breakerBlocked: 0, breakerRetryAt: Infinity, disabled: 0 };
  // `all` is in priority order: each run of one priority is a group (no map, no sort per request).
  const groups: Endpoint[][] = [];
  let group: Endpoint[] | null = null;
  for (const e of all) {
    if (isDisabled(e.provider)) {
      result.disabled++;
      continue;
    }
    if (!e.health.breaker.isAvailable(now)) {
      result.breakerBlocked++;
      result.breakerRetryAt = Math.min(result.breakerRetryAt, e.health.breaker.availableAt(now));
      continue;
    }
    if (group !== null && group[0]!.priority === e.priority) group.push(e);
    else groups.push((group = [e]));
  }
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i]!;
    const ordered = orderGroup(g, route.balance, route.name, g[0]!.priority, rr);
    if (ordered instanceof Promise) return finishAsync(result, ordered, groups.slice(i + 1), route, rr);
    for (const e of ordered) result.endpoints.push(e);
  }
  return result;
}

async function finishAsync(result: Plan, pending: Promise<Endpoint[]>, rest: Endpoint[][], route: CompiledRoute, rr: RoundRobin): Promise<Plan> {
  for (const e of await pending) result.endpoints.push(e);
  for (const g of rest) for (const e of await orderGroup(g, route.balance, route.name, g[0]!.priority, rr)) result.endpoints.push(e);
  return result;
}
