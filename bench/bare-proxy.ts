/**
 * The baseline proxy: node:http + undici `Pool.stream` piping the upstream body straight into the
 * response. No auth, routing, limits or logs: the cost of one Node hop and nothing else.
 *
 * `node bench/bare-proxy.ts --upstream http://127.0.0.1:N [--port N]` prints `{"port":N}` on its
 * first stdout line once listening.
 */
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import v8 from 'node:v8';
import { Pool } from 'undici';
import { heapGrowingPercent } from '../src/boot/lean-start.ts';
import { applyTrafficSettings } from '../src/boot/v8-flags.ts';

// The V8 settings llmux's launcher (bin/llmux.js) makes for traffic at start, made here too, so that the
// baseline is not slowed by what llmux is spared: with allocation-site pretenuring on, this proxy
// allocated its per-request objects in the old generation after a few seconds of load (in a rig:
// 30-60 MB a second promoted, a full mark-compact about every second, 6-9 µs a request in V8's
// helper threads against 1-4 without; bench/HISTORY.md, thirteenth round); and with V8's default
// retention of maps, a few quiet spells left Node's tick object megamorphic (eighteenth round).
// A baseline with a V8 pathology flatters the ratios.
applyTrafficSettings();

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const upstream = arg('--upstream');
if (!upstream) {
  process.stderr.write('bare-proxy: --upstream URL is required\n');
  process.exit(2);
}
// Idle connections close after 4 s, whatever the upstream's `Keep-Alive: timeout=N` offers, as
// llmux's do (src/upstream/client.ts): after a client leaves mid-stream undici opens a connection it
// never uses (nodejs/undici#5845), which would otherwise idle for the fake upstream's 63 s, so that
// neither proxy carries the open-streams probe's 2,000 idle connections into the load runs.
const pool = new Pool(upstream, { keepAliveTimeout: 4_000, keepAliveMaxTimeout: 4_000 });

/** Hop-by-hop headers (RFC 9110 §7.6.1) are not forwarded. */
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-connection', 'host']);

function forwardable(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP.has(k)) out[k] = v;
  return out;
}

const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const headers = forwardable(req.headers) as Record<string, string>;
  pool.stream(
    { path: req.url ?? '/', method: (req.method ?? 'GET') as 'POST', headers, body: req },
    ({ statusCode, headers: upHeaders }) => {
      res.writeHead(statusCode, forwardable(upHeaders));
      return res;
    },
    (err) => {
      if (!err) return;
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: err.message, type: 'upstream_error', param: null, code: null } }));
      } else res.destroy(err);
    },
  );
});
server.maxConnections = 20_000;
server.listen(Number(arg('--port') ?? 0), '127.0.0.1', () => {
  // The old generation's growth factor llmux fixes once it listens (src/boot/lean-start.ts), fixed
  // here too at the same moment: both proxies collect under the same rule.
  v8.setFlagsFromString(`--heap-growing-percent=${heapGrowingPercent}`);
  const addr = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof addr === 'object' && addr ? addr.port : 0 })}\n`);
});

function stop(): void {
  server.close();
  server.closeAllConnections();
  void pool.destroy();
  // exit() rather than the default signal death, so --cpu-prof can write its profile.
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
