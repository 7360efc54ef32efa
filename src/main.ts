/**
 * Composition root: config → state → routing deps → HTTP app → listen; graceful shutdown. The only
 * place (with cli/) where adapters are chosen.
 */
import type { FastifyInstance } from 'fastify';
import { compile, type Snapshot } from './config/compile.ts';
import { loadConfig, type Env } from './config/load.ts';
import { systemClock, type Clock } from './core/clock.ts';
import { HealthTracker } from './health/tracker.ts';
import { buildApp, type HttpRuntime } from './http/server.ts';
import { endpointViews } from './http/upstream-view.ts';
import { MemoryLimiter } from './limits/memory-limiter.ts';
import { ConcurrencyGate } from './limits/queue.ts';
import { createLogger, flushLogger, type Logger } from './observe/logger.ts';
import { Metrics } from './observe/metrics.ts';
import { subscribeRequestLog } from './observe/request-log.ts';
import { abortReasons, type RoutingDeps } from './routing/context.ts';
import { LocalRoundRobin } from './routing/planner.ts';
import { UpstreamClients } from './upstream/client.ts';

export interface GatewayOptions {
  configPath?: string;
  cwd?: string;
  env?: Env;
  host?: string;
  port?: number;
  clock?: Clock;
  /** Provide a logger (tests pass a silent one). */
  logger?: Logger;
  /** Install SIGTERM/SIGINT handlers (the CLI does; tests do not). */
  handleSignals?: boolean;
}

export interface Gateway {
  readonly url: string;
  readonly app: FastifyInstance;
  readonly deps: RoutingDeps;
  readonly log: Logger;
  snapshot(): Snapshot;
  /** Stop accepting, let in-flight requests finish within `shutdownGraceMs`, then stop. */
  close(): Promise<void>;
}

const loopbackHosts = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export function isLoopback(host: string): boolean {
  return loopbackHosts.has(host) || host.startsWith('127.');
}

export class StartupError extends Error {}

export async function startGateway(opts: GatewayOptions = {}): Promise<Gateway> {
  const loaded = await loadConfig({ configPath: opts.configPath, cwd: opts.cwd, env: opts.env });
  const clock = opts.clock ?? systemClock;
  let snap = compile(loaded.config, loaded.file, 1, clock.now());
  const cfg = snap.config;
  const host = opts.host ?? cfg.server.host;
  const port = opts.port ?? cfg.server.port;
  if (!isLoopback(host) && snap.clientKeys.size === 0 && !cfg.server.adminKey && !cfg.server.allowOpen) {
    throw new StartupError(`Refusing to listen on ${host} with no client key: anyone who can reach it could spend your upstream keys. Set server.keys (or server.adminKey) in the config, or server.allowOpen: true if you really want an open gateway.`);
  }
  const log = opts.logger ?? createLogger({ level: cfg.log.level, file: cfg.log.file });
  for (const n of loaded.notes) log.info(n);

  const tracker = new HealthTracker(clock);
  const clients = new UpstreamClients();
  const limiter = new MemoryLimiter(clock, cfg.server.timezone);
  const deps: RoutingDeps = { tracker, clients, rr: new LocalRoundRobin(), limiter, clock };
  const gate = new ConcurrencyGate(cfg.server.maxConcurrency, cfg.server.queue.size, cfg.server.queue.timeoutMs);
  const metrics = new Metrics({
    breakers: () => [...tracker.all()].map((h) => ({ provider: h.id.split('/')[0] ?? '', endpoint: h.id, state: h.breaker.state(clock.now()) })),
    queue: () => ({ active: gate.active, queued: gate.queued }),
    limiterUsage: () => endpointViews(snap, deps).map((e) => ({ endpoint: e.id, rpm: e.usage.rpm, rpd: e.usage.rpd })),
  });
  const unsubLog = subscribeRequestLog(log);

  const rt: HttpRuntime = {
    snapshot: () => snap,
    deps,
    storedKey: () => undefined,
    storedKeyCount: () => 0,
    captureOn: () => false,
    admit: (signal) => gate.acquire(signal),
    log,
    draining: false,
    inflight: new Set(),
    metrics,
  };
  const app = buildApp(rt, { bodyLimit: snap.bodyLimitBytes });
  await app.listen({ host, port });
  const addr = app.server.address();
  const boundPort = typeof addr === 'object' && addr ? addr.port : port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}`;
  log.info({ url, providers: snap.providers.size, routes: snap.routes.size, config: loaded.file ?? '(defaults)' }, 'llmux listening');

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      rt.draining = true;
      // Stop accepting, let in-flight requests and streams finish within the grace period, then
      // abort what is left (streams get an error event) and close every socket.
      const listening = app.close();
      await waitDrained(rt.inflight, snap.config.server.shutdownGraceMs);
      for (const c of rt.inflight) c.abort(abortReasons.shutdown);
      await waitDrained(rt.inflight, 1000);
      app.server.closeAllConnections();
      await listening;
      metrics.close();
      unsubLog();
      await clients.close();
      flushLogger(log);
    })();
    return closing;
  };
  if (opts.handleSignals) installSignals(close, log);
  return { url, app, deps, log, snapshot: () => snap, close };
}

/** Resolves when no request is in flight, or after `ms`. */
async function waitDrained(inflight: Set<AbortController>, ms: number): Promise<void> {
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
