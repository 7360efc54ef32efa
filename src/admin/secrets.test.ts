import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maskProvider, maskProxy, restoreSecrets, scrubText, secretsOf } from './secrets.ts';
import { debugPageScript } from './debug-page-script.ts';

const body = {
  id: 'p', keys: ['sk-one-0123456789abcd', 'sk-two-0123456789wxyz'], headers: { Authorization: 'Bearer tok-0123456789', 'X-Trace': 'on' },
  proxy: 'http://bob:pa55word-long@proxy.local:3128',
};

test('maskProvider masks keys, secret headers and proxy credentials, and nothing else', () => {
  const m = maskProvider(body);
  assert.deepEqual(m.keys, ['sk-…abcd', 'sk-…wxyz']);
  assert.deepEqual(m.headers, { Authorization: 'Bea…6789', 'X-Trace': 'on' });
  assert.equal(m.proxy, 'http://bob:***@proxy.local:3128');
  assert.equal(maskProvider({ keys: 'sk-single-0123456789' }).keys, 'sk-…6789');
  assert.equal(maskProxy('http://token-only@proxy.local'), 'http://***@proxy.local');
  const text = JSON.stringify(m);
  for (const s of secretsOf(body)) assert.ok(!text.includes(s), s);
});

test('restoreSecrets puts stored values back for masks, by position first', () => {
  const next = { ...maskProvider(body) };
  restoreSecrets(next, body, true, 'refused');
  assert.deepEqual(next.keys, body.keys);
  assert.deepEqual(next.headers, body.headers);
  assert.equal(next.proxy, body.proxy);
  assert.throws(() => restoreSecrets({ keys: ['sk-…abcd'] }, body, false, 'moving'), /keys\[0\]: moving/);
  assert.throws(() => restoreSecrets({ keys: ['sk-…0000'] }, body, true, 'x'), /matches none/);
});

test('scrubText replaces raw and JSON-escaped secrets, ignores short ones', () => {
  const k = 'sk-"quoted"-0123456789';
  assert.equal(scrubText(JSON.stringify({ e: `bad key ${k}` }), [k, 'short']), JSON.stringify({ e: 'bad key sk-…6789' }));
  assert.equal(scrubText('a short one', ['short']), 'a short one');
});

test('the debug page script parses', () => {
  assert.doesNotThrow(() => new Function(debugPageScript));
});
