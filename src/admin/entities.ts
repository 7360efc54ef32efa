/**
 * Providers and routes made through the admin API (SPEC §3): they live in the store, the file's
 * entries are shown read-only, and a change counts only once the merged config accepts it. Every
 * change is: write the store → `rt.reload('admin')` → on rejection, put the store back as it was and
 * answer 400 with the reload's problems (the old config never stopped serving). Changes run one at a
 * time, so a rollback never undoes somebody else's change.
 */
import type { Snapshot } from '../config/compile.ts';
import type { EntityKind, EntityRecord, JsonValue } from '../store/types.ts';
import type { AdminRuntime } from './runtime.ts';
import { badRequest } from './errors.ts';
import { LlmuxError } from '../core/errors.ts';

type Body = Record<string, unknown>;

/** Runs async jobs strictly one after another. */
export class Serial {
  #tail: Promise<unknown> = Promise.resolve();
  run<T>(job: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(job, job);
    this.#tail = next.catch(() => undefined);
    return next;
  }
}

export interface KindSpec {
  kind: EntityKind;
  /** The body field that holds the id (`id` for providers, `name` for routes). */
  idField: 'id' | 'name';
  /** The entries of this kind in the config in effect (file and store merged). */
  inConfig(snap: Snapshot): readonly Body[];
  /** Is the entity part of the compiled snapshot (serving)? */
  active(snap: Snapshot, id: string): boolean;
}

/**
 * Ids of this kind that the file defines as well as the store. Accepts the runtime's messages
 * (`provider "x" is defined in the file and in the store…`), `provider:x`, or a bare id.
 */
export function clashIds(kind: EntityKind, clashes: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const c of clashes) {
    const m = /^(provider|route)\s+"(.*)"\s/.exec(c) ?? /^(provider|route):(.*)$/.exec(c);
    if (m) {
      if (m[1] === kind) out.add(m[2]!);
    } else out.add(c);
  }
  return out;
}

export interface Owner {
  /** The file's entry (masked by the caller before it goes out), or null. */
  file: Body | null;
  stored: EntityRecord | null;
}

export interface Listing {
  file: Body[];
  stored: EntityRecord[];
  clashes: Set<string>;
}

/** File entries = entries in effect that are not store entries (or that the file wins a clash with). */
export async function listing(rt: AdminRuntime, spec: KindSpec): Promise<Listing> {
  const snap = rt.snapshot();
  const stored = await rt.store.listEntities(spec.kind);
  const storeIds = new Set(stored.map((e) => e.id));
  const clashes = clashIds(spec.kind, rt.configStatus().clashes);
  const file = spec.inConfig(snap).filter((e) => {
    const id = String(e[spec.idField]);
    return !storeIds.has(id) || clashes.has(id);
  });
  return { file, stored, clashes };
}

export async function owner(rt: AdminRuntime, spec: KindSpec, id: string): Promise<Owner> {
  const l = await listing(rt, spec);
  return {
    file: l.file.find((e) => String(e[spec.idField]) === id) ?? null,
    stored: l.stored.find((e) => e.id === id) ?? null,
  };
}

function storedBody(r: EntityRecord): Body {
  return r.body !== null && typeof r.body === 'object' && !Array.isArray(r.body) ? (r.body as Body) : {};
}

export { storedBody };

/**
 * Write (or with `body` null, delete) one entity and reload; roll back and throw 400 when the reload
 * rejects the result. Resolves the version of the config now in effect.
 */
export async function persist(rt: AdminRuntime, spec: KindSpec, id: string, body: Body | null): Promise<number> {
  const before = (await rt.store.listEntities(spec.kind)).find((e) => e.id === id) ?? null;
  const fileAlso = clashIds(spec.kind, rt.configStatus().clashes).has(id);
  if (body === null) await rt.store.deleteEntity(spec.kind, id);
  else await rt.store.putEntity(spec.kind, id, body as JsonValue);
  let res = await reloadSafely(rt);
  // A reload that was already running when we wrote may not have seen the change; one more settles it.
  if (res.ok && inEffect(rt, spec, id) !== (body !== null || fileAlso)) res = await reloadSafely(rt);
  if (res.ok) return res.version;
  try {
    if (before) await rt.store.putEntity(spec.kind, id, before.body);
    else await rt.store.deleteEntity(spec.kind, id);
  } catch (e) {
    rt.log.error({ err: e, kind: spec.kind, id }, 'admin: rolling back a rejected change failed; the store now holds an entity the config rejects');
    throw new LlmuxError('LLMUX_ERR_INTERNAL', `The change was rejected (${res.error ?? 'invalid config'}) and putting the store back failed; see the gateway log.`, { cause: e });
  }
  throw badRequest(`The change was not applied: the config with it is invalid. ${res.error ?? ''}`.trim(), null);
}

function inEffect(rt: AdminRuntime, spec: KindSpec, id: string): boolean {
  return spec.inConfig(rt.snapshot()).some((e) => String(e[spec.idField]) === id);
}

async function reloadSafely(rt: AdminRuntime): Promise<{ ok: boolean; version: number; error: string | null }> {
  try {
    return await rt.reload('admin');
  } catch (e) {
    return { ok: false, version: rt.snapshot().version, error: (e as Error).message };
  }
}
