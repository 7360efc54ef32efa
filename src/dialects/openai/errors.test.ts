import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyInBand, classifyStatus, readUpstreamError, scrubSecrets, statusForClass } from './errors.ts';

const bounded = { timeout: 5_000 };
const key = 'sk-canary-unit-7f3a9c2e5b1d4086';

test('scrubSecrets masks a whole echoed key, keeping enough to tell which key it was', bounded, () => {
  const out = scrubSecrets(`Incorrect API key provided: ${key}. See docs.`, [key]);
  assert.equal(out, 'Incorrect API key provided: sk-…4086. See docs.');
});

test('scrubSecrets masks every occurrence and every key', bounded, () => {
  const other = 'AIzaSyCanary0123456789abcdef';
  const out = scrubSecrets(`${key} and ${key}, also ?key=${other}`, [key, other]);
  assert.ok(!out.includes(key) && !out.includes(other), out);
  assert.equal(out, 'sk-…4086 and sk-…4086, also ?key=AIz…cdef');
});

test('scrubSecrets removes a partly starred echo of a key', bounded, () => {
  const out = scrubSecrets(`Incorrect API key provided: ${key.slice(0, 16)}**********${key.slice(-4)}`, [key]);
  assert.ok(!out.includes(key.slice(0, 16)), out);
  assert.match(out, /\[redacted\]/);
});

test('scrubSecrets leaves text without keys, and short keys, alone', bounded, () => {
  const text = 'The model `gpt-4o-mini` does not exist or you do not have access to it.';
  assert.equal(scrubSecrets(text, [key]), text);
  assert.equal(scrubSecrets('none of this is secret', ['none']), 'none of this is secret');
  assert.equal(scrubSecrets('', [key]), '');
  assert.equal(scrubSecrets(`x ${key}`, []), `x ${key}`);
});

test('scrubSecrets works inside JSON text without breaking it', bounded, () => {
  const body = JSON.stringify({ error: { message: `bad key ${key}`, type: 'invalid_request_error', param: null, code: null } });
  const out = scrubSecrets(body, [key]);
  assert.equal(JSON.parse(out).error.message, 'bad key sk-…4086');
});

test('readUpstreamError reads OpenAI, plain-string, detail and text error shapes', bounded, () => {
  assert.deepEqual(readUpstreamError({ error: { message: 'm', type: 't', code: 'c' } }), { message: 'm', type: 't', code: 'c', innerStatus: null, retryInMs: null });
  assert.equal(readUpstreamError({ error: 'just text' }).message, 'just text');
  assert.equal(readUpstreamError({ detail: 'fastapi says' }).message, 'fastapi says');
  assert.equal(readUpstreamError({ error: { message: 'x', code: 429 } }).innerStatus, 429);
  assert.equal(readUpstreamError(null, 'raw text').message, 'raw text');
  assert.equal(readUpstreamError(null).message, 'no message');
});

test('classifyStatus: the failure class of each upstream status', bounded, () => {
  const info = (message: string, code: string | null = null) => ({ message, type: null, code, innerStatus: null, retryInMs: null });
  assert.equal(classifyStatus(429, info('Rate limit reached for requests')), 'rate_limit');
  assert.equal(classifyStatus(429, info('You exceeded your current quota', 'insufficient_quota')), 'quota');
  assert.equal(classifyStatus(429, info('quota of 60 requests per minute exceeded')), 'rate_limit');
  assert.equal(classifyStatus(402, info('pay up')), 'quota');
  assert.equal(classifyStatus(401, info('bad key')), 'credential');
  assert.equal(classifyStatus(403, info('region')), 'credential');
  assert.equal(classifyStatus(404, info('nope')), 'model_unavailable');
  assert.equal(classifyStatus(400, info('The model `x` does not exist')), 'model_unavailable');
  assert.equal(classifyStatus(400, info('context too long', 'context_length_exceeded')), 'caller');
  assert.equal(classifyStatus(413, info('too big')), 'caller');
  assert.equal(classifyStatus(422, info('bad field')), 'caller');
  assert.equal(classifyStatus(400, info('upstream busy')), 'caller');
  assert.equal(classifyStatus(400, info('upstream busy'), new Set([400])), 'transient', 'failoverOn');
  for (const s of [408, 409, 500, 502, 503, 504, 529]) assert.equal(classifyStatus(s, info('x')), 'transient', String(s));
});

test('classifyInBand: an error inside a 200 is never the caller\'s fault', bounded, () => {
  const info = (message: string, innerStatus: number | null = null) => ({ message, type: null, code: null, innerStatus, retryInMs: null });
  assert.equal(classifyInBand(info('Rate limit exceeded', 429)), 'rate_limit');
  assert.equal(classifyInBand(info('insufficient credits')), 'quota');
  assert.equal(classifyInBand(info('Invalid API key', 401)), 'credential');
  assert.equal(classifyInBand(info('model not found')), 'model_unavailable');
  assert.equal(classifyInBand(info('bad request', 400)), 'transient');
  assert.equal(classifyInBand(info('overloaded')), 'transient');
});

test('statusForClass: what llmux answers when failover is exhausted', bounded, () => {
  assert.equal(statusForClass('rate_limit'), 429);
  assert.equal(statusForClass('quota'), 429);
  assert.equal(statusForClass('timeout'), 504);
  assert.equal(statusForClass('connect'), 502);
  assert.equal(statusForClass('credential'), 502);
  assert.equal(statusForClass('model_unavailable'), 404);
});

test('readUpstreamError unwraps an error object sent inside a list (Gemini\'s OpenAI endpoint)', bounded, () => {
  const info = readUpstreamError([{ error: { code: 429, message: 'You exceeded your current quota. Please retry in 36.35s.', status: 'RESOURCE_EXHAUSTED' } }]);
  assert.match(info.message, /^You exceeded your current quota/);
  assert.equal(info.innerStatus, 429);
  assert.equal(info.retryInMs, 36_350);
});

test('readUpstreamError finds a wait stated in the message or in RetryInfo details', bounded, () => {
  const wait = (message: string, extra: object = {}) => readUpstreamError({ error: { message, ...extra } }).retryInMs;
  assert.equal(wait('Rate limit reached for requests. Please try again in 20s.'), 20_000);
  assert.equal(wait('Please try again in 1.5s'), 1_500);
  assert.equal(wait('Please try again in 6ms.'), 6);
  assert.equal(wait('Rate limit on tokens per day. Please try again in 7m12s.'), 432_000);
  assert.equal(wait('Too many requests, retry after 5 seconds'), 5_000);
  assert.equal(wait('quota exhausted', { details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '36s' }] }), 36_000);
  assert.equal(wait('You exceeded your current quota, please check your plan and billing details.'), null);
  assert.equal(wait('retry later'), null);
});
