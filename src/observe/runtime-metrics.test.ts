import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import client from 'prom-client';
import { LoopDelay, registerRuntimeMetrics } from './runtime-metrics.ts';

const bounded = { timeout: 30_000 };

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

const majorCount = /^nodejs_gc_duration_seconds_count\{kind="major"\} (\S+)$/m;

/** Scrapes until `line` reads at least `atLeast` (GC entries reach the observer a turn or two after the collection); at most 5 s. */
async function scrapeUntil(r: client.Registry, line: RegExp, atLeast: number): Promise<string> {
  let text = '';
  for (let i = 0; i < 500; i++) {
    text = await r.metrics();
    const m = line.exec(text);
    if (m && Number(m[1]) >= atLeast) return text;
    await sleep(10);
  }
  return text;
}

test('runtime metrics: CPU counters that grow, memory, a held event loop as the longest delay, GC pauses by kind', bounded, async () => {
  const r = new client.Registry();
  const stop = registerRuntimeMetrics(r);
  try {
    let text = await r.metrics();
    assert.match(text, /^# TYPE process_cpu_seconds_total counter$/m);
    const cpu0 = value(text, /^process_cpu_seconds_total (\S+)$/m);
    assert.ok(value(text, /^process_resident_memory_bytes (\S+)$/m) > 10 * 2 ** 20);
    assert.ok(value(text, /^nodejs_heap_size_used_bytes (\S+)$/m) > 0);
    assert.ok(value(text, /^nodejs_heap_size_total_bytes (\S+)$/m) >= value(text, /^nodejs_heap_size_used_bytes (\S+)$/m));

    // Hold the loop until this thread has used 150 ms of CPU (however long that takes on a busy
    // machine; at most 10 s), then let the sampler run.
    const start = process.cpuUsage();
    const cap = performance.now() + 10_000;
    for (let used = 0; used < 150_000 && performance.now() < cap; ) {
      const u = process.cpuUsage(start);
      used = u.user + u.system;
    }
    await sleep(30);
    text = await r.metrics();
    assert.ok(value(text, /^process_cpu_seconds_total (\S+)$/m) >= cpu0 + 0.15, 'the busy loop is counted as CPU time');
    assert.ok(value(text, /^process_cpu_user_seconds_total (\S+)$/m) + value(text, /^process_cpu_system_seconds_total (\S+)$/m) >= 0.15);
    const held = value(text, /^nodejs_eventloop_lag_max_seconds (\S+)$/m);
    // At most one sampling period of the hold can fall before the sampler's last tick.
    assert.ok(held >= 0.13, `longest delay ${held} s after the loop was held 150 ms or more`);
    assert.ok(value(text, /^nodejs_eventloop_delay_seconds_bucket\{le="0.1"\} (\S+)$/m) < value(text, /^nodejs_eventloop_delay_seconds_count (\S+)$/m), 'the hold is in the histogram past 100 ms');

    fullGc();
    text = await scrapeUntil(r, majorCount, 1);
    assert.match(text, /^# TYPE nodejs_gc_duration_seconds histogram$/m);
    assert.ok(value(text, majorCount) >= 1);
    assert.ok(value(text, /^nodejs_gc_duration_seconds_bucket\{le="\+Inf",kind="major"\} (\S+)$/m) >= 1);
  } finally {
    stop();
  }
});

test('runtime metrics: once stopped, collections are no longer observed and the loop reads no delay', bounded, async () => {
  const r = new client.Registry();
  const stop = registerRuntimeMetrics(r);
  let before: number;
  try {
    fullGc();
    before = value(await scrapeUntil(r, majorCount, 1), majorCount);
    assert.ok(before >= 1);
  } finally {
    stop();
  }
  fullGc();
  await sleep(50);
  const text = await r.metrics();
  assert.equal(value(text, majorCount), before);
  assert.equal(value(text, /^nodejs_eventloop_lag_max_seconds (\S+)$/m), 0);
});

test('the loop delay: how late each tick is, the longest per scrape, a hold counted in one window only', () => {
  const d = new LoopDelay(0);
  // On time, then 5 ms late.
  assert.equal(d.tick(10), 0);
  assert.equal(d.tick(25), 5);
  assert.equal(d.scrape(26), 5);
  // A new window: nothing yet.
  assert.equal(d.scrape(30), 0);
  // A 90 ms hold ends just before a scrape the sampler has not ticked since: the scrape sees it…
  assert.equal(d.scrape(125), 90);
  // …and the tick that comes next counts only what followed that scrape.
  assert.equal(d.tick(126), 91);
  assert.equal(d.scrape(130), 1);
  // A hold the sampler saw stays the window's longest.
  d.tick(200);
  d.tick(210);
  assert.equal(d.scrape(215), 64);
});
