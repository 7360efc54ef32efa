import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import client from 'prom-client';
import { registerRuntimeMetrics } from './runtime-metrics.ts';

const bounded = { timeout: 20_000 };

function value(text: string, line: RegExp): number {
  const m = line.exec(text);
  assert.ok(m, `${line} not in the scrape`);
  return Number(m[1]);
}

/** A full collection on demand (`--expose-gc` for a moment, in a context of its own). */
function fullGc(): void {
  v8.setFlagsFromString('--expose-gc');
  try {
    (vm.runInNewContext('gc') as () => void)();
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}

test('runtime metrics: CPU counters that grow, memory, a held event loop seen once as its longest delay, GC pauses by kind', bounded, async () => {
  const r = new client.Registry();
  const stop = registerRuntimeMetrics(r);
  try {
    let text = await r.metrics();
    assert.match(text, /^# TYPE process_cpu_seconds_total counter$/m);
    const cpu0 = value(text, /^process_cpu_seconds_total (\S+)$/m);
    assert.ok(value(text, /^process_resident_memory_bytes (\S+)$/m) > 10 * 2 ** 20);
    assert.ok(value(text, /^nodejs_heap_size_used_bytes (\S+)$/m) > 0);
    assert.ok(value(text, /^nodejs_heap_size_total_bytes (\S+)$/m) >= value(text, /^nodejs_heap_size_used_bytes (\S+)$/m));

    // Hold the loop for 120 ms, then let the 10 ms sampler run a few times.
    const until = performance.now() + 120;
    while (performance.now() < until);
    await sleep(40);
    text = await r.metrics();
    assert.ok(value(text, /^process_cpu_seconds_total (\S+)$/m) >= cpu0 + 0.1, 'the busy loop is counted as CPU time');
    const held = value(text, /^nodejs_eventloop_lag_max_seconds (\S+)$/m);
    assert.ok(held >= 0.09, `longest delay ${held} s after the loop was held 120 ms`);
    assert.ok(value(text, /^nodejs_eventloop_delay_seconds_bucket\{le="0.05"\} (\S+)$/m) < value(text, /^nodejs_eventloop_delay_seconds_count (\S+)$/m), 'the hold is in the histogram past 50 ms');
    // The next scrape is a new window: the hold is not in it.
    await sleep(40);
    text = await r.metrics();
    assert.ok(value(text, /^nodejs_eventloop_lag_max_seconds (\S+)$/m) < 0.09, 'each scrape starts a new window');

    fullGc();
    // Entries reach the observer after the collection, on a later turn of the loop.
    await sleep(20);
    text = await r.metrics();
    assert.match(text, /^# TYPE nodejs_gc_duration_seconds histogram$/m);
    assert.ok(value(text, /^nodejs_gc_duration_seconds_count\{kind="major"\} (\S+)$/m) >= 1);
    assert.ok(value(text, /^nodejs_gc_duration_seconds_bucket\{le="\+Inf",kind="major"\} (\S+)$/m) >= 1);
  } finally {
    stop();
  }
});

test('runtime metrics: once stopped, collections are no longer observed', bounded, async () => {
  const r = new client.Registry();
  const stop = registerRuntimeMetrics(r);
  fullGc();
  await sleep(20);
  const before = value(await r.metrics(), /^nodejs_gc_duration_seconds_count\{kind="major"\} (\S+)$/m);
  stop();
  fullGc();
  await sleep(20);
  assert.equal(value(await r.metrics(), /^nodejs_gc_duration_seconds_count\{kind="major"\} (\S+)$/m), before);
});
