import assert from 'node:assert/strict';
import { test } from 'node:test';
import { endLeanStart, givesHeapGrowth, heapGrowingPercent } from './lean-start.ts';

const marker = Symbol.for('llmux.leanStart');
const g = globalThis as { [marker]?: boolean };

test("a heap growth factor given on Node's command line is seen, in every spelling V8 takes", () => {
  assert.equal(givesHeapGrowth(['--heap-growing-percent=30']), true);
  assert.equal(givesHeapGrowth(['--heap_growing_percent=0']), true);
  assert.equal(givesHeapGrowth(['-heap-growing-percent=50']), true);
  assert.equal(givesHeapGrowth(['--max-old-space-size=512', '--heap_growing-percent=50']), true);
});

test('other flags, or none, leave the factor to llmux', () => {
  assert.equal(givesHeapGrowth([]), false);
  assert.equal(givesHeapGrowth(['--max-semi-space-size=16', '--no-allocation-site-pretenuring', '--enable-source-maps']), false);
  assert.equal(givesHeapGrowth(['--heap-growing-percentage=5', '--heap-growing', '---heap-growing-percent=5']), false);
});

test('after a lean start, the traffic settings are made once; a factor the user gave is left alone', (t) => {
  const before = g[marker];
  t.after(() => {
    g[marker] = before;
  });
  const set: string[] = [];
  g[marker] = true;
  endLeanStart((f) => set.push(f), ['--trace-gc']);
  assert.deepEqual(set, ['--semi-space-growth-factor=2', `--heap-growing-percent=${heapGrowingPercent}`]);
  endLeanStart((f) => set.push(f), ['--trace-gc']);
  assert.equal(set.length, 2, 'a second call sets nothing');

  const kept: string[] = [];
  g[marker] = true;
  endLeanStart((f) => kept.push(f), ['--heap-growing-percent=0']);
  assert.deepEqual(kept, ['--semi-space-growth-factor=2']);
});

test('without a lean start (the launcher did not start it), nothing is set', (t) => {
  const before = g[marker];
  t.after(() => {
    g[marker] = before;
  });
  g[marker] = undefined;
  const set: string[] = [];
  endLeanStart((f) => set.push(f), []);
  assert.deepEqual(set, []);
});
