import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ms2 } from './response.ts';

test('ms2 writes milliseconds as toFixed(2) does (halves round up), negatives and NaN as 0.00', () => {
  for (let i = 0; i < 20_000; i++) {
    const x = Math.random() * 10 ** (i % 7);
    const want = Math.round(x * 100) / 100;
    assert.equal(Number(ms2(x)), want, `${x}`);
    assert.match(ms2(x), /^\d+\.\d\d$/);
    // Away from a half, exactly toFixed's text.
    if (Math.abs(x * 100 - Math.floor(x * 100) - 0.5) > 1e-6) assert.equal(ms2(x), x.toFixed(2), `${x}`);
  }
  assert.equal(ms2(0), '0.00');
  assert.equal(ms2(0.05), '0.05');
  assert.equal(ms2(12.5), '12.50');
  assert.equal(ms2(99.999), '100.00');
  assert.equal(ms2(120_000.004), '120000.00');
  assert.equal(ms2(-3), '0.00');
  assert.equal(ms2(Number.NaN), '0.00');
});
