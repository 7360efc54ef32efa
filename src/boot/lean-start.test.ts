import assert from 'node:assert/strict';
import { test } from 'node:test';
import { givesHeapGrowth } from './lean-start.ts';

test("a heap growth factor given on Node's command line is seen, in either spelling", () => {
  assert.equal(givesHeapGrowth(['--heap-growing-percent=30']), true);
  assert.equal(givesHeapGrowth(['--heap_growing_percent=0']), true);
  assert.equal(givesHeapGrowth(['--max-old-space-size=512', '--heap_growing-percent=50']), true);
});

test('other flags, or none, leave the factor to llmux', () => {
  assert.equal(givesHeapGrowth([]), false);
  assert.equal(givesHeapGrowth(['--max-semi-space-size=16', '--no-allocation-site-pretenuring', '--enable-source-maps']), false);
  assert.equal(givesHeapGrowth(['--heap-growing-percentage=5', '--heap-growing']), false);
});
