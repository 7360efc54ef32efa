import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';

const require = createRequire(import.meta.url);
/** Whether a module is loaded (a boolean: a failed assertion's report would print a whole module graph). */
const loaded = (spec: string): boolean => require.cache[require.resolve(spec)] !== undefined;
const dispatcherProto = (): object => (require('undici/lib/dispatcher/dispatcher.js') as { prototype: object }).prototype;
/** What undici's dispatchers had before its index was loaded (the first test), for the second to compare. */
let leanMembers: string[] = [];

// The tests run in order, each file in its own process: the first runs before anything here loads a
// package's index.
test("the gateway's modules load neither undici's index nor prom-client's", async () => {
  await import('../main.ts');
  assert.equal(loaded('undici'), false, "undici's index (all of undici: fetch, WebSocket, the mock agent, …) was loaded");
  assert.equal(loaded('prom-client'), false, "prom-client's index (its default metrics, OpenTelemetry's API, …) was loaded");
  assert.equal(loaded('undici/lib/dispatcher/pool.js'), true);
  assert.equal(loaded('prom-client/lib/registry'), true);
  leanMembers = Object.getOwnPropertyNames(dispatcherProto()).sort();
  // The request API the index gives every dispatcher (the proxy agent's tunnel uses `connect`).
  for (const name of ['request', 'stream', 'pipeline', 'connect', 'upgrade']) assert.ok(leanMembers.includes(name), `Dispatcher.prototype.${name}`);
});

test("the parts taken from undici's files are the package's own exports, set up as its index sets them up", async () => {
  const lean = await import('../upstream/undici.ts');
  const undici = await import('undici');
  assert.equal(lean.Pool, undici.Pool);
  assert.equal(lean.ProxyAgent, undici.ProxyAgent);
  assert.equal(lean.errors, undici.errors);
  assert.equal(lean.util.parseHeaders, undici.util.parseHeaders);
  assert.equal(lean.util.headerNameToString, undici.util.headerNameToString);
  assert.deepEqual(Object.keys(lean.util).sort(), Object.keys(undici.util).sort());
  // The index, now loaded, gave dispatchers nothing the lean load had not.
  assert.equal(undici.Dispatcher.prototype, dispatcherProto());
  assert.notEqual(leanMembers.length, 0, 'runs after the first test');
  assert.deepEqual(Object.getOwnPropertyNames(dispatcherProto()).sort(), leanMembers);
});

test("the parts taken from prom-client's files are the package's own exports", async () => {
  const lean = await import('../observe/prom.ts');
  const prom = (await import('prom-client')).default;
  assert.equal(lean.Registry, prom.Registry);
  assert.equal(lean.Counter, prom.Counter);
  assert.equal(lean.Gauge, prom.Gauge);
  assert.equal(lean.Histogram, prom.Histogram);
});
