/**
 * The REST surface shared by /admin/providers and /admin/routes: list (file + store, each marked with
 * its `source`), get, POST (create), PUT (create or replace), PATCH (RFC 7396 merge patch), DELETE.
 * File entries answer 409: the file is the source of truth for them. Bodies are validated with the
 * config's own schema, so a field error reads exactly like a config file error (`limits.rpm: …`).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { EntityRecord } from '../store/types.ts';
import type { AdminRuntime } from './runtime.ts';
import { bodyOf } from './body.ts';
import { persist, listing, owner, storedBody, type KindSpec, type Serial } from './entities.ts';
import { badRequest, conflict, fromZod, notFound } from './errors.ts';

type Body = Record<string, unknown>;

export interface CrudSpec extends KindSpec {
  path: string;
  label: string;
  schema: z.ZodType;
  /** What goes out: a copy with every secret masked. */
  mask(body: Body): Body;
  /**
   * Fix up a full incoming body before validation (restore masked secrets, refuse unsafe changes).
   * `existing` is the stored body (null on create); `raw` what the client sent.
   */
  prepare?(next: Body, existing: Body | null, raw: Body): void;
}

/** RFC 7396: objects merge recursively, `null` removes a member, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Body = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Body) } : {};
  for (const [k, v] of Object.entries(patch as Body)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export function registerCrud(app: FastifyInstance, rt: AdminRuntime, serial: Serial, spec: CrudSpec): void {
  const { idField, label } = spec;
  const fileView = (e: Body): Body => ({ ...spec.mask(e), source: 'file', readOnly: true });
  const storeView = (r: EntityRecord, clashes: Set<string>): Body => ({
    ...spec.mask(storedBody(r)), [idField]: r.id, source: 'store', readOnly: false, updatedAt: r.updatedAt,
    active: !clashes.has(r.id) && spec.active(rt.snapshot(), r.id), shadowedByFile: clashes.has(r.id),
  });
  const idOf = (req: FastifyRequest): string => (req.params as { id: string }).id;
  const readOnly = (id: string) => conflict(`The ${label} "${id}" comes from the config file, so it is read-only here: edit the file (it reloads by itself), or give the new ${label} another ${idField}.`, 'read_only');

  const validate = (next: Body): void => {
    const r = spec.schema.safeParse(next);
    if (!r.success) throw fromZod(r.error);
  };

  const save = async (reply: FastifyReply, id: string, next: Body, status: number): Promise<Body> => {
    const version = await persist(rt, spec, id, next);
    const l = await listing(rt, spec);
    const r = l.stored.find((e) => e.id === id);
    void reply.code(status).header('x-llmux-config-version', String(version));
    return r ? storeView(r, l.clashes) : { ...spec.mask(next), [idField]: id, source: 'store' };
  };

  app.get(spec.path, async () => {
    const l = await listing(rt, spec);
    return { object: 'list', data: [...l.file.map(fileView), ...l.stored.map((r) => storeView(r, l.clashes))] };
  });

  app.get(`${spec.path}/:id`, async (req) => {
    const id = idOf(req);
    const l = await listing(rt, spec);
    const f = l.file.find((e) => String(e[idField]) === id);
    if (f) return fileView(f);
    const s = l.stored.find((e) => e.id === id);
    if (s) return storeView(s, l.clashes);
    throw notFound(`No ${label} "${id}".`);
  });

  app.post(spec.path, async (req, reply) =>
    serial.run(async () => {
      const raw = bodyOf(req);
      const next: Body = { ...raw };
      const id = next[idField];
      if (typeof id !== 'string' || id === '') throw badRequest(`${idField}: required, a non-empty string.`, idField);
      const o = await owner(rt, spec, id);
      if (o.file) throw readOnly(id);
      if (o.stored) throw conflict(`A ${label} "${id}" already exists; change it with PUT or PATCH ${spec.path}/${encodeURIComponent(id)}.`, 'already_exists');
      spec.prepare?.(next, null, raw);
      validate(next);
      return save(reply, id, next, 201);
    }));

  app.put(`${spec.path}/:id`, async (req, reply) =>
    serial.run(async () => {
      const id = idOf(req);
      const raw = bodyOf(req);
      if (raw[idField] !== undefined && raw[idField] !== id) throw badRequest(`${idField}: "${String(raw[idField])}" differs from the ${idField} in the URL ("${id}"); a ${label} cannot be renamed, create a new one instead.`, idField);
      const o = await owner(rt, spec, id);
      if (o.file) throw readOnly(id);
      const existing = o.stored ? storedBody(o.stored) : null;
      const next: Body = { ...raw, [idField]: id };
      spec.prepare?.(next, existing, raw);
      validate(next);
      return save(reply, id, next, existing ? 200 : 201);
    }));

  app.patch(`${spec.path}/:id`, async (req, reply) =>
    serial.run(async () => {
      const id = idOf(req);
      const raw = bodyOf(req);
      if (raw[idField] !== undefined && raw[idField] !== id) throw badRequest(`${idField}: a ${label} cannot be renamed; create a new one instead.`, idField);
      const o = await owner(rt, spec, id);
      if (o.file) throw readOnly(id);
      if (!o.stored) throw notFound(`No ${label} "${id}" made through the admin API; create it with POST ${spec.path}.`);
      const existing = storedBody(o.stored);
      const next = { ...(mergePatch(existing, raw) as Body), [idField]: id };
      spec.prepare?.(next, existing, raw);
      validate(next);
      return save(reply, id, next, 200);
    }));

  app.delete(`${spec.path}/:id`, async (req, reply) =>
    serial.run(async () => {
      const id = idOf(req);
      const o = await owner(rt, spec, id);
      if (!o.stored) {
        if (o.file) throw readOnly(id);
        throw notFound(`No ${label} "${id}".`);
      }
      const version = await persist(rt, spec, id, null);
      void reply.header('x-llmux-config-version', String(version));
      return { [idField]: id, deleted: true };
    }));
}
