/**
 * Composition root: config → store, state → routing deps → HTTP app → listen; background jobs;
 * graceful shutdown. The only place (with cli/) where adapters are chosen.
 */
import { randomUUID } from 'node:crypto';
import module from 'node:module';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Snapshot } from './config/compile.ts';
import type { Env } from './config/load.ts';
import { systemClock, type Clock } from './core/clock.ts';
import { flushEvents } from './core/events.ts';
import { HealthTracker } from './health/tracker.ts';
import { buildApp, type HttpRuntime } from './http/server.ts';
import { endpointViews } from './http/upstream-view.ts';
import { PrincipalLimiter } from './limits/keys.ts';
import { ConcurrencyGate } from './limits/queue.ts';
import { StateLimiter } from './limits/state-limiter.ts';
import { closeLogger, createLogger, flushLogger, type Logger } from './observe/logger.ts';
import { Metrics } from './observe/metrics.ts';
import { subscribeRequestLog } from './observe/request-log.ts';
import { subscribeStoreLog } from './observe/store-log.ts';
import { abortReasons, InflightRequests, type RoutingDeps } from './routing/context.ts';
import { openState } from './state/open.ts';
import { MemoryState } from './state/memory.ts';
import { StatePersister } from './state/persist.ts';
import type { State } from './state/types.ts';
import { openStore, redactUrl } from './store/open.ts';
import { RequestLogWriter } from './store/log-writer.ts';
import type { Store } from './store/types.ts';
import { UpstreamClients } from './upstream/client.ts';
import { BreakerSync } from './boot/breaker-sync.ts';
import { endLeanStart } from './boot/lean-start.ts';
import { Snapshots } from './boot/snapshots.ts';
import { StoredKeys } from './boot/stored-keys.ts';
import { startJobs } from './boot/jobs.ts';
import { checkAll, discoverModels, startHealthChecks } from './boot/health-checks.ts';
import { DebugSwitch } from './boot/debug-control.ts';
import { watchFiles, type Watching } from './config/watch.ts';
import { CaptureWriter } from './observe/capture.ts';
import { adminPlugin } from './admin/plugin.ts';
import type { AdminRuntime } from './admin/runtime.ts';
import { probe, probeModel } from './routing/probe.ts';
import { endpointId } from './routing/planner.ts';

export interface GatewayOptions {
  configPath?: string;
  cwd?: string;
  env?: Env;
  host?: string;
  port?: number;
  clock?: Clock;
  /** Provide a logger (tests pass one that captures). */
  logger?: Logger;
  /** Install SIGTERM/SIGINT handlers (the CLI does; tests do not). */
  handleSignals?: boolean;
}

export interface Gateway {
  readonly url: string;
  readonly app: FastifyInstance;
  readonly deps: RoutingDeps;
  readonly log: Logger;
  readonly store: Store;
  readonly state: State;
  snapshot(): Snapshot;
  reload(reason: string): ReturnType<Snapshots['reload']>;
  /** Stop accepting, let in-flight requests finish within `shutdownGraceMs`, flush, stop. */
  close(): Promise<void>;
}

const loopbackHosts = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export function isLoopback(host: string): boolean {
  return loopbackHosts.has(host) || host.startsWith('127.');
}

export class StartupError extends Error {}

/** `sqlite:./x.db` is relative to the working directory the gateway was started in. */
export function resolveStoreUrl(url: string, cwd: string): string {
  if (!url.startsWith('sqlite:')) return url;
  const p = url.slice('sqlite:'.length);
  return p === ':memory:' ? url : `sqlite:${path.resolve(cwd, p)}`;
}

export async function startGateway(opts: GatewayOptions = {}): Promise<Gateway> {
  const clock = opts.clock ?? systemClock;
  const cwd = opts.cwd ?? process.cwd();
  const snaps = await Snapshots.load({ configPath: opts.configPath, cwd, env: opts.env, now: () => clock.now() });
  const cfg = snaps.current.config;
  const host = opts.host ?? cfg.server.host;
  const port = opts.port ?? cfg.server.port;
  const refuseOpen = (storedKeys: number): void => {
    if (!isLoopback(host) && snaps.current.clientKeys.size === 0 && storedKeys === 0 && !cfg.server.adminKey && !cfg.server.allowOpen) {
      throw new StartupError(`Refusing to listen on ${host} with no client key: anyone who can reach it could spend your upstream keys. Set server.keys (or server.adminKey) in the config, create one with \`llmux keys create\`, or set server.allowOpen: true if you really want an open gateway.`);
    }
  };
  const log = opts.logger ?? createLogger({ level: cfg.log.level, file: cfg.log.file && path.resolve(cwd, cfg.log.file), timezone: cfg.server.timezone });
  for (const n of snaps.notes) log.info(n);
  const instance = randomUUID();

  const store = await openStore(resolveStoreUrl(cfg.store, cwd), { now: () => clock.now() });
  const state = await openState(cfg.state, { logger: log, clock });
  const persister = state instanceof MemoryState ? new StatePersister(state, store, { onError: (e) => log.warn({ err: e }, 'could not save counters to the store; will retry') }) : null;
  if (persister) await persister.restore();
  const attached = await snaps.attachStore(store);
  if (!attached.ok) throw new StartupError(attached.error ?? 'the config with the store entities is invalid');

  const tracker = new HealthTracker(clock);
  const clients = new UpstreamClients();
  const tz = (): string => snaps.current.config.server.timezone;
  const limiter = new StateLimiter(state, clock, tz);
  // Round-robin positions from the state: shared by every instance on Redis (SPEC §11), persisted with memory.
  const deps: RoutingDeps = { instance, tracker, clients, rr: state.rr, limiter, clock };
  const breakerSync = new BreakerSync(tracker, state, () => snaps.current, (e) => log.warn({ err: e }, 'breaker state could not be shared'));
  await breakerSync.start();
  const keys = new StoredKeys(store);
  await keys.refresh();
  try {
    refuseOpen(keys.count);
  } catch (e) {
    breakerSync.stop();
    await persister?.close().catch(() => undefined);
    await state.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw e;
  }
  const principals = new PrincipalLimiter(state, tz);
  const gate = new ConcurrencyGate(cfg.server.maxConcurrency, cfg.server.queue.size, cfg.server.queue.timeoutMs);
  snaps.onSwap((s) => {
    gate.max = s.config.server.maxConcurrency;
    gate.queueSize = s.config.server.queue.size;
    gate.queueTimeoutMs = s.config.server.queue.timeoutMs;
  });
  const metrics = new Metrics({
    breakers: () => [...tracker.all()].map((h) => ({ provider: h.id.split('/')[0] ?? '', endpoint: h.id, state: h.breaker.state(clock.now()) })),
    queue: () => ({ active: gate.active, queued: gate.queued }),
    limiterUsage: () => endpointViews(snaps.current, deps).map((e) => ({ endpoint: e.id, rpm: e.usage.rpm, rpd: e.usage.rpd })),
  }, instance);
  const writer = new RequestLogWriter(store, { onError: (e, info) => log.error({ err: e, rows: info.rows, dropped: info.dropped }, 'could not write the request log; retrying') });
  const unsubs = [subscribeRequestLog(log, instance), subscribeStoreLog(writer, instance)];
  const debug = new DebugSwitch(() => snaps.current, store, cwd);
  await debug.init();
  const capture = new CaptureWriter({ instance, dir: () => debug.dir(), enabled: debug.enabled, timezone: tz, onError: (e, what) => log.warn({ err: e }, `debug capture: ${what}`) });
  capture.start();
  const watcher = watchConfig(snaps, debug, cwd, log);
  await watcher.ready;

  const rt: HttpRuntime = {
    snapshot: () => snaps.current,
    deps,
    storedKey: keys.lookup,
    storedKeyCount: () => keys.count,
    captureOn: debug.enabled,
    admit: (signal) => gate.tryAcquire() ?? gate.acquire(signal),
    admitPrincipal: (p, now) => principals.admit(p, now),
    // The request's own time (Date.now) when the clock is the system's; an injected clock (tests) is read.
    touched: (p, now) => keys.touch(p, clock === systemClock ? now : clock.now(), (e) => log.warn({ err: e }, 'could not record key use')),
    log,
    draining: false,
    inflight: new InflightRequests(),
    metrics,
  };
  const app = buildApp(rt, { bodyLimit: snaps.current.bodyLimitBytes });
  const admin: AdminRuntime = {
    snapshot: () => snaps.current,
    store,
    deps,
    reload: (reason) => snaps.reload(reason),
    configStatus: () => snaps.status(),
    debug,
    concurrency: () => ({ active: gate.active, queued: gate.queued, max: gate.max }),
    probeProvider: async (id) => {
      const p = snaps.current.providers.get(id);
      if (!p) return [];
      const hc = snaps.current.config.healthCheck;
      const model = probeModel(p);
      const keys = p.keys.length > 0 ? p.keys : [null];
      return Promise.all(keys.map(async (key, i) => ({ ...(await probe(clients, { provider: p, key, model }, hc.mode === 'chat' && model ? 'chat' : 'models', hc.timeoutMs)), endpoint: endpointId(p, p.keyIds[i] ?? 'nokey', model) })));
    },
    log,
    startedAt: clock.now(),
  };
  await app.register(adminPlugin(admin));
  const jobs = startJobs({ store, snaps, keys, log, clock, onPoll: () => debug.refreshAdmin() });
  const hcDeps = { snaps, tracker, clients, log };
  if (cfg.healthCheck.onStartup) {
    const r = await checkAll(hcDeps, snaps.current);
    log.info(r, 'start-up health check done');
  } else if ([...snaps.current.providers.values()].some((p) => p.discover)) {
    await discoverModels(hcDeps, snaps.current);
  }
  const checks = startHealthChecks(hcDeps);

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      rt.draining = true;
      // Stop accepting, let in-flight requests and streams finish within the grace period, then
      // abort what is left (streams get an error event) and close every socket.
      const listening = app.close();
      await waitDrained(rt.inflight, snaps.current.config.server.shutdownGraceMs);
      for (const c of rt.inflight) c.abort(abortReasons.shutdown);
      await waitDrained(rt.inflight, 1000);
      app.server.closeAllConnections();
      await listening;
      jobs.stop();
      checks.stop();
      await watcher.close();
      // The last requests' end events, before their subscribers stop.
      flushEvents();
      await capture.close();
      breakerSync.stop();
      for (const u of unsubs) u();
      metrics.close();
      await writer.close().catch((e: unknown) => log.error({ err: e }, 'request log not fully written'));
      await persister?.close().catch((e: unknown) => log.error({ err: e }, 'counters not fully saved'));
      await state.close().catch(() => undefined);
      await store.close().catch(() => undefined);
      await clients.close();
      if (opts.logger) flushLogger(log);
      else await closeLogger(log);
    })();
    return closing;
  };
  try {
    await app.listen({ host, port });
  } catch (e) {
    // A busy port (or any bind error): release everything, so the process can exit with the error.
    await close().catch(() => undefined);
    throw e;
  }
  endLeanStart();
  const addr = app.server.address();
  const boundPort = typeof addr === 'object' && addr ? addr.port : port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}`;
  // Node's compile cache (bin/compile-cache.js) is written now rather than only at exit: a process
  // ended without one (SIGKILL, an out-of-memory kill, Windows, where SIGTERM ends a process at once)
  // keeps it too, and `npm install`'s warm-up (scripts/warm-cache.js) may stop the gateway as soon
  // as it listens. After a start from a filled cache there is nothing to write.
  module.flushCompileCache?.();
  if (opts.handleSignals) installSignals(close, log);
  // Said once the gateway is ready for everything, its signals included.
  log.info({ url, providers: snaps.current.providers.size, routes: snaps.current.routes.size, config: snaps.current.file ?? '(defaults)', store: redactUrl(cfg.store), state: redactUrl(cfg.state) }, 'llmux listening');
  return { url, app, deps, log, store, state, snapshot: () => snaps.current, reload: (r) => snaps.reload(r), close };
}

/**
 * Hot reload (SPEC §3): the config file, `.env`, `DEBUG_MODE.txt` and watched sources; a valid change
 * is in effect within 2 s, an invalid one is logged and the old snapshot keeps serving.
 */
function watchConfig(snaps: Snapshots, debug: DebugSwitch, cwd: string, log: Logger): Watching {
  const file = snaps.current.file;
  const debugFile = path.join(cwd, 'DEBUG_MODE.txt');
  const files = [file ?? path.join(cwd, 'llmux.yaml'), path.join(cwd, '.env'), debugFile];
  const dirs = snaps.current.config.sources.filter((s) => s.watch).map((s) => path.resolve(cwd, s.path));
  return watchFiles({
    files,
    dirs,
    onChange: async (paths) => {
      if (paths.includes(debugFile)) log.info({ on: await debug.refreshFile() }, 'DEBUG_MODE.txt changed: debug capture follows it');
      if (paths.some((p) => p !== debugFile)) {
        const r = await snaps.reload('files changed');
        if (r.ok) log.info({ version: r.version, changed: paths.map((p) => path.relative(cwd, p)) }, 'config reloaded');
        else log.error({ error: r.error }, 'config change rejected: the previous config keeps serving');
      }
    },
    onError: (e) => log.warn({ err: e }, 'file watcher problem'),
  });
}

/** Resolves when no request is in flight, or after `ms`. */
async function waitDrained(inflight: InflightRequests, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (inflight.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
}

function installSignals(close: () => Promise<void>, log: Logger): void {
  let count = 0;
  const onSignal = (sig: string): void => {
    count++;
    if (count > 1) {
      log.warn({ sig }, 'second signal: exiting now');
      flushLogger(log);
      process.exit(1);
    }
    log.info({ sig }, 'shutting down: finishing in-flight requests (send the signal again to exit at once)');
    close().then(
      () => process.exit(0),
      (e) => {
        log.error({ err: e }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
