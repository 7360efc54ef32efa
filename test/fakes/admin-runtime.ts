/**
 * A fake-but-real AdminRuntime for the admin plugin's tests: a real memory store, the real merge of
 * file config + store entities (config/merge.ts), the real compile, a real health tracker and limiter
 * on a manual clock. Only the probe, the admission numbers and the debug toggle are scripted. The
 * app is the real client-facing app (http/server.ts) with the admin plugin registered on it, so the
 * plugin is tested inside the same parent it will live in.
 */
import { compile, type Snapshot } from '../../src/config/compile.ts';
import { mergeStored } from '../../src/config/merge.ts';
import { validateConfig } from '../../src/config/load.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import { ManualClock } from '../../src/core/clock.ts';
import { HealthTracker } from '../../src/health/tracker.ts';
import { buildApp, type HttpRuntime } from '../../src/http/server.ts';
import { MemoryLimiter } from '../../src/limits/memory-limiter.ts';
import { InflightRequests, type RoutingDeps } from '../../src/routing/context.ts';
import { LocalRoundRobin } from '../../src/routing/planner.ts';
import type { ProbeResult } from '../../src/routing/probe.ts';
import { openStore } from '../../src/store/open.ts';
import type { Store } from '../../src/store/types.ts';
import { UpstreamClients } from '../../src/upstream/client.ts';
import { adminPlugin } from '../../src/admin/plugin.ts';
import type { AdminRuntime, ConfigStatus, ReloadResult } from '../../src/admin/runtime.ts';
import type { LoginLimiter } from '../../src/admin/login-limiter.ts';
import type { FastifyInstance } from 'fastify';

export interface AdminHarness {
  app: FastifyInstance;
  rt: AdminRuntime;
  store: Store;
  clock: ManualClock;
  deps: RoutingDeps;
  /** Replace the "file" config (takes effect at the next reload). */
  setFile(cfg: ConfigInput): void;
  /** Scripted admission numbers. */
  gate: { active: number; queued: number; max: number };
  logs: Array<{ level: string; msg: string; o: object }>;
  close(): Promise<void>;
}

export interface AdminHarnessOptions {
  probe?: (id: string) => Promise<Array<ProbeResult & { endpoint: string }>>;
  loginLimiter?: LoginLimiter;
  clock?: ManualClock;
}

export async function startAdminHarness(file: ConfigInput, opts: AdminHarnessOptions = {}): Promise<AdminHarness> {
  const clock = opts.clock ?? new ManualClock(Date.UTC(2026, 0, 15, 12, 0, 0));
  const store = await openStore('memory', { now: () => clock.now() });
  let fileCfg = file;
  let snap: Snapshot = compile(validateConfig(fileCfg, null), null, 1, clock.now());
  let status: ConfigStatus = { version: 1, loadedAt: snap.loadedAt, file: null, lastError: null, lastErrorAt: null, clashes: [] };
  const tz = snap.config.server.timezone;
  const deps: RoutingDeps = { instance: 'admin-test', tracker: new HealthTracker(clock), clients: new UpstreamClients(), rr: new LocalRoundRobin(), limiter: new MemoryLimiter(clock, tz), clock };
  const gate = { active: 0, queued: 0, max: snap.config.server.maxConcurrency };
  const logs: AdminHarness['logs'] = [];
  const log = (level: string) => (o: object, msg: string) => void logs.push({ level, msg, o });
  let debugAdmin = false;

  const reload = async (_reason: string): Promise<ReloadResult> => {
    try {
      const base = validateConfig(fileCfg, null);
      const [providers, routes] = await Promise.all([store.listEntities('provider'), store.listEntities('route')]);
      const merged = mergeStored(base, { providers, routes }, null);
      snap = compile(merged.config, null, snap.version + 1, clock.now());
      status = { version: snap.version, loadedAt: snap.loadedAt, file: null, lastError: null, lastErrorAt: null, clashes: merged.clashes };
      return { ok: true, version: snap.version, error: null };
    } catch (e) {
      const msg = (e as Error).message;
      status = { ...status, lastError: msg, lastErrorAt: clock.now() };
      return { ok: false, version: snap.version, error: msg };
    }
  };

  const rt: AdminRuntime = {
    snapshot: () => snap,
    store,
    deps,
    reload,
    configStatus: () => status,
    debug: {
      enabled: () => debugAdmin || snap.config.debug.enabled,
      reasons: () => [...(snap.config.debug.enabled ? ['config'] : []), ...(debugAdmin ? ['admin'] : [])],
      setAdmin: async (on) => {
        debugAdmin = on;
        await store.setSetting('debug.admin', on);
      },
      dir: () => snap.config.debug.dir,
    },
    concurrency: () => ({ ...gate }),
    probeProvider: opts.probe ?? (async (id) => [{ endpoint: `${id}/x/m`, ok: true, status: 200, latencyMs: 5, cls: null, error: null }]),
    log: { info: log('info'), warn: log('warn'), error: log('error') },
    startedAt: clock.now(),
  };
  await reload('start');

  const http: HttpRuntime = {
    snapshot: () => snap, deps, storedKey: () => undefined, storedKeyCount: () => 0, captureOn: () => false,
    admit: async () => () => undefined, admitPrincipal: async () => ({ settle: () => undefined }), log: rt.log, draining: false, inflight: new InflightRequests(),
  };
  const app = buildApp(http, { bodyLimit: 1024 * 1024 });
  await app.register(adminPlugin(rt, { loginLimiter: opts.loginLimiter }));
  await app.ready();
  return {
    app, rt, store, clock, deps, gate, logs,
    setFile: (cfg) => void (fileCfg = cfg),
    close: async () => {
      await app.close();
      await deps.clients.close();
      await store.close();
    },
  };
}

/** An admin request through `inject`, with the admin key (unless `key: null`) and JSON in and out. */
export async function call(
  h: AdminHarness,
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  url: string,
  body?: unknown,
  o: { key?: string | null; headers?: Record<string, string>; remoteAddress?: string } = {},
): Promise<{ status: number; json: any; text: string; headers: Record<string, unknown> }> {
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  const key = o.key === undefined ? ADMIN_KEY : o.key;
  if (key !== null) headers['x-admin-key'] = key;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await h.app.inject({
    method, url, headers, remoteAddress: o.remoteAddress,
    ...(body !== undefined ? { payload: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
  let json: any = null;
  try {
    json = JSON.parse(res.body);
  } catch {
    /* not JSON */
  }
  return { status: res.statusCode, json, text: res.body, headers: res.headers };
}

export const ADMIN_KEY = 'admin-test-key-0123456789abcdef';
