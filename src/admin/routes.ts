/**
 * /admin/routes: CRUD of routes (public model names → targets) kept in the store; see crud.ts. A
 * route's id in the URL is its `name` (URL-encode it: `*` → `%2A`, `a/b` → `a%2Fb`). Routes hold no
 * secrets, so nothing is masked; a target naming a provider that does not exist is rejected by the
 * reload, with the path of the bad target.
 */
import type { FastifyInstance } from 'fastify';
import { routeSchema } from '../config/schema.ts';
import type { AdminRuntime } from './runtime.ts';
import { registerCrud } from './crud.ts';
import type { KindSpec, Serial } from './entities.ts';

type Body = Record<string, unknown>;

export const routeKind: KindSpec = {
  kind: 'route',
  idField: 'name',
  inConfig: (snap) => snap.config.routes as unknown as Body[],
  active: (snap, name) => snap.routes.has(name),
};

export function registerRoutes(app: FastifyInstance, rt: AdminRuntime, serial: Serial): void {
  registerCrud(app, rt, serial, {
    ...routeKind,
    path: '/admin/routes',
    label: 'route',
    schema: routeSchema,
    mask: (b) => ({ ...b }),
  });
}
