import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PerformanceObserver } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import client from 'prom-client';
import { parseRuntime, runtimeWindow } from '../../bench/probes.ts';
import { describeRuntime } from '../../bench/report.ts';
import { registerRuntimeMetrics } from '../../src/observe/runtime-metrics.ts';

const bounded = { timeout: 20_000 };

test('the bench reads what llmux writes: the loop delay and GC pauses between two scrapes of its /metrics', bounded, async () => {
  const r = new client.Registry();
  const stop = registerRuntimeMetrics(r);
  try {
    await sleep(20);
    const before = parseRuntime(await r.metrics());
    assert.ok(before);
    // A full collection, and a turn or two later its entry (this observer hears of it as the
    // metrics' own does; the window is scraped once, after, so nothing else starts a new one).
    const heard = new Promise<void>((resolve) => {
      const o = new PerformanceObserver(() => {
        o.disconnect();
        resolve();
      });
      o.observe({ entryTypes: ['gc'] });
    });
    v8.setFlagsFromString('--expose-gc');
    try {
      (vm.runInNewContext('gc') as () => void)();
    } finally {
      v8.setFlagsFromString('--no-expose-gc');
    }
    await heard;
    // Then the loop held 80 ms (at most one 10 ms period of it can fall before the sampler's last tick).
    const until = performance.now() + 80;
    while (performance.now() < until);
    await sleep(30);
    const after = parseRuntime(await r.metrics());
    assert.ok(after);
    const w = runtimeWindow(before, after);
    assert.ok(w.loopMaxMs >= 65, `loop held 80 ms: ${w.loopMaxMs}`);
    const major = w.gc.find((g) => g.kind === 'major');
    assert.ok(major && major.count >= 1, JSON.stringify(w.gc));
    assert.ok((major.longestLeMs ?? Infinity) > 0 && major.over10ms <= major.count);
    assert.match(describeRuntime(w), /^the event loop's longest delay [\d,.]+ ms; .*major GC pause/);
  } finally {
    stop();
  }
});

test('the bench\'s window: deltas per kind, the longest pause as its bucket, kinds without pauses left out; a scrape without the lines is none', () => {
  const scrape = (major: number[], minor: number[]): string => {
    const les = ['0.001', '0.002', '0.005', '0.01', '0.02', '0.05', '0.1', '0.25', '1', '+Inf'];
    const lines = ['nodejs_eventloop_lag_max_seconds 0.0123'];
    les.forEach((le, i) => lines.push(`nodejs_gc_duration_seconds_bucket{le="${le}",kind="major"} ${major[i]}`, `nodejs_gc_duration_seconds_bucket{le="${le}",kind="minor"} ${minor[i]}`));
    return lines.join('\n');
  };
  const before = parseRuntime(scrape([0, 0, 0, 1, 1, 1, 1, 1, 1, 1], [5, 9, 9, 9, 9, 9, 9, 9, 9, 9]))!;
  // Two more major pauses (one of 2–5 ms, one of 10–20 ms); the minor ones unchanged.
  const after = parseRuntime(scrape([0, 0, 1, 2, 3, 3, 3, 3, 3, 3], [5, 9, 9, 9, 9, 9, 9, 9, 9, 9]))!;
  const w = runtimeWindow(before, after);
  assert.deepEqual(w, { loopMaxMs: 12.3, gc: [{ kind: 'major', count: 2, over10ms: 1, longestLeMs: 20 }] });
  assert.equal(describeRuntime(w), "the event loop's longest delay 12.3 ms; 2 major GC pauses (1 over 10 ms; the longest ≤ 20 ms)");
  // A pause past the last bound; counts lower than before (a restart) leave the window's own.
  const past = parseRuntime(scrape([0, 0, 0, 1, 1, 1, 1, 1, 1, 2], [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]))!;
  assert.deepEqual(runtimeWindow(before, past).gc, [
    { kind: 'major', count: 1, over10ms: 1, longestLeMs: null },
    { kind: 'minor', count: 1, over10ms: 0, longestLeMs: 1 },
  ]);
  assert.equal(parseRuntime('llmux_requests_total 3'), null);
});
