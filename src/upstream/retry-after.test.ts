import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration, retryAfterMs } from './retry-after.ts';

const bounded = { timeout: 5_000 };
const now = Date.UTC(2026, 0, 1, 12, 0, 0);

test('retry-after in seconds', bounded, () => {
  assert.equal(retryAfterMs({ 'retry-after': '7' }, now), 7_000);
  assert.equal(retryAfterMs({ 'retry-after': '0' }, now), 0);
  assert.equal(retryAfterMs({ 'retry-after': '1.5' }, now), 1_500);
});

test('retry-after-ms in (fractional) milliseconds', bounded, () => {
  assert.equal(retryAfterMs({ 'retry-after-ms': '250' }, now), 250);
  assert.equal(retryAfterMs({ 'retry-after-ms': '12.3' }, now), 13, 'rounded up, never down');
});

test('retry-after as an HTTP date', bounded, () => {
  const at = new Date(now + 30_000).toUTCString();
  assert.equal(retryAfterMs({ 'retry-after': at }, now), 30_000);
  const past = new Date(now - 30_000).toUTCString();
  assert.equal(retryAfterMs({ 'retry-after': past }, now), 0, 'a date in the past is no wait, never negative');
});

test('x-ratelimit-reset-* durations: 6m0s, 1.5s, 12ms, 1h2m', bounded, () => {
  assert.equal(retryAfterMs({ 'x-ratelimit-reset-requests': '6m0s' }, now), 360_000);
  assert.equal(retryAfterMs({ 'x-ratelimit-reset-tokens': '1.5s' }, now), 1_500);
  assert.equal(retryAfterMs({ 'x-ratelimit-reset-requests': '12ms' }, now), 12);
  assert.equal(parseDuration('1h2m', now), 3_720_000);
  assert.equal(parseDuration('2m30.5s', now), 150_500);
});

test('x-ratelimit-reset as epoch seconds', bounded, () => {
  const epoch = String(Math.floor((now + 45_000) / 1000));
  assert.equal(retryAfterMs({ 'x-ratelimit-reset': epoch }, now), 45_000);
  assert.equal(parseDuration(String(Math.floor((now - 5_000) / 1000)), now), 0, 'an epoch in the past is no wait');
});

test('x-ratelimit-reset as epoch milliseconds (OpenRouter)', bounded, () => {
  assert.equal(retryAfterMs({ 'x-ratelimit-reset': String(now + 90_000) }, now), 90_000);
});

test('a small bare number in x-ratelimit-reset is seconds, not an epoch', bounded, () => {
  assert.equal(retryAfterMs({ 'x-ratelimit-reset': '20' }, now), 20_000);
});

test('retry-after-ms or retry-after, when sent, is taken as it is over any reset header', bounded, () => {
  const h = { 'retry-after': '2', 'x-ratelimit-reset-requests': '6m0s', 'x-ratelimit-remaining-requests': '0' };
  assert.equal(retryAfterMs(h, now), 2_000);
  assert.equal(retryAfterMs({ ...h, 'retry-after-ms': '1500' }, now), 1_500, 'retry-after-ms is the more precise one');
  assert.equal(retryAfterMs({ ...h, 'retry-after-ms': 'junk' }, now), 2_000);
});

test('without retry-after, the reset of the limit that ran out: a requests 429 is not benched for the tokens reset', bounded, () => {
  // What OpenAI sends: requests exhausted (back in 1 s), tokens plentiful but "full again" in 6 minutes.
  const h = {
    'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '1s',
    'x-ratelimit-remaining-tokens': '149000', 'x-ratelimit-reset-tokens': '6m0s',
  };
  assert.equal(retryAfterMs(h, now), 1_000);
  const tokens = { ...h, 'x-ratelimit-remaining-requests': '12', 'x-ratelimit-remaining-tokens': '0' };
  assert.equal(retryAfterMs(tokens, now), 360_000);
  const both = { ...h, 'x-ratelimit-remaining-tokens': '0' };
  assert.equal(retryAfterMs(both, now), 360_000, 'both ran out: wait for the later one');
});

test('without retry-after and no limit marked as run out, the shortest reset', bounded, () => {
  assert.equal(retryAfterMs({ 'x-ratelimit-reset-requests': '20s', 'x-ratelimit-reset-tokens': '2s' }, now), 2_000);
  assert.equal(retryAfterMs({ 'x-ratelimit-reset': '30', 'x-ratelimit-remaining': '0' }, now), 30_000);
});

test('no usable header gives undefined', bounded, () => {
  assert.equal(retryAfterMs({}, now), undefined);
  assert.equal(retryAfterMs({ 'retry-after': 'soon' }, now), undefined);
  assert.equal(retryAfterMs({ 'retry-after-ms': 'abc' }, now), undefined);
  assert.equal(retryAfterMs({ 'x-ratelimit-reset-requests': 'later' }, now), undefined);
  assert.equal(parseDuration('', now), undefined);
});

test('a repeated header uses its first value', bounded, () => {
  assert.equal(retryAfterMs({ 'retry-after': ['3', '9'] }, now), 3_000);
});

test('negative or empty values are ignored, never a wait in the past', bounded, () => {
  assert.equal(retryAfterMs({ 'retry-after': '-5' }, now), undefined);
  assert.equal(retryAfterMs({ 'retry-after-ms': '-1' }, now), undefined);
  assert.equal(retryAfterMs({ 'retry-after': '' }, now), undefined);
  assert.equal(retryAfterMs({ 'retry-after': '-5', 'retry-after-ms': '300' }, now), 300);
  assert.equal(retryAfterMs({ 'retry-after-ms': '-1', 'retry-after': '4' }, now), 4_000);
  assert.equal(retryAfterMs({ 'retry-after': '-5', 'x-ratelimit-reset-requests': '3s' }, now), 3_000);
});
