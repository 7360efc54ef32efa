import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QuietChunks } from './quiet-chunks.ts';
import { isContentChunk } from './sse.ts';
import { seededRandom } from '../../mock/admission.ts';

const role = (id: string, created: number | string, extra = ''): string =>
  `{"id":"${id}","object":"chat.completion.chunk","created":${created},"model":"gpt-4o-mini","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]${extra}}`;

/** What the relay's parse path concludes: quiet when the JSON is an object with no content, no error and no usage. */
function quiet(json: string): boolean | 'broken' {
  let o: unknown;
  try {
    o = JSON.parse(json);
  } catch {
    return 'broken';
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return false;
  const r = o as Record<string, unknown>;
  return !isContentChunk(r) && (r.error === undefined || r.error === null) && !r.usage;
}

test('the role chunk of an upstream, with another id and time, is known; anything else is not', () => {
  const q = new QuietChunks();
  const first = role('chatcmpl-AbC123', 1763900000);
  assert.equal(q.known('p', first), false, 'nothing learnt yet');
  q.learn('p', first);
  for (const same of [first, role('chatcmpl-XyZ789', 1763900001), role('gen-1733.2:x_y-z', 0), role('a', 17639000001234)]) {
    assert.equal(q.known('p', same), true, same);
    assert.equal(quiet(same), true, same);
  }
  assert.equal(q.known('other', role('chatcmpl-XyZ789', 1)), false, 'learnt per key');
  for (const other of [
    role('chatcmpl-XyZ789', 1).slice(0, -1), // cut
    `${role('chatcmpl-XyZ789', 1)}}`, // a bracket more
    role('chatcmpl-XyZ789', 1).replace('"content":""', '"content":"hi"'), // content
    role('chatcmpl-XyZ789', 1).replace('"finish_reason":null', '"finish_reason":"stop"'),
    role('chatcmpl-XyZ789', 1, ',"usage":{"prompt_tokens":1}'),
    role('chatcmpl-XyZ789', 1, ',"error":{"message":"x"}'),
    role('', 1), // an empty id
    role('has space', 1),
    role('back\\\\slash', 1),
    role('quote\\"d', 1),
    role('x', '012'), // a leading zero: not JSON
    role('x', ''), // no number
    role('x', '1.5'),
    role('x', '-1'),
    role('x', '12345678901234567'), // longer than a time
    ` ${role('x', 1)}`, // another shape (leading space)
    role('x', 1).replace('"created":1', '"created": 1'),
  ]) {
    assert.equal(q.known('p', other), false, other);
  }
});

test('only events that start with a plain id and carry a whole creation time teach a template', () => {
  const q = new QuietChunks();
  for (const json of ['{"object":"chat.completion.chunk","id":"x","created":1,"choices":[]}', '{"id":"x y","created":1}', '{"id":"x","object":"c"}', '{"id":"x","created":-1}', '{"id":"x","created": 1}']) {
    q.learn('p', json);
    assert.equal(q.known('p', json), false, json);
  }
});

test('fuzz: every event known from a template parses, and is quiet', () => {
  const rand = seededRandom(20261207);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const chars = ['{', '}', '[', ']', '"', ',', ':', ' ', '\\', '0', '1', '9', '-', '.', 'e', 'a', 'Z', '_', 'n', 'u', 'l'];
  const mutate = (s: string): string => {
    const i = Math.floor(rand() * (s.length + 1));
    const r = rand();
    if (r < 0.33) return s.slice(0, i) + s.slice(i + 1);
    if (r < 0.66) return s.slice(0, i) + pick(chars) + s.slice(i);
    return s.slice(0, i) + pick(chars) + s.slice(i + 1);
  };
  const q = new QuietChunks();
  const template = role('chatcmpl-0', 1763900000);
  q.learn('p', template);
  let known = 0;
  let broken = 0;
  for (let n = 0; n < 20_000; n++) {
    // Mostly edits near the id and the time, where a template lets text vary; some anywhere.
    let json = role(`chatcmpl-${Math.floor(rand() * 1e6)}`, Math.floor(rand() * 2e9));
    const near = rand() < 0.8;
    for (let m = 1 + Math.floor(rand() * 2); m > 0; m--) {
      if (near) {
        const i = 6 + Math.floor(rand() * 60);
        const r = rand();
        json = r < 0.33 ? json.slice(0, i) + json.slice(i + 1) : r < 0.66 ? json.slice(0, i) + pick(chars) + json.slice(i) : json.slice(0, i) + pick(chars) + json.slice(i + 1);
      } else json = mutate(json);
    }
    const truth = quiet(json);
    if (truth === 'broken') broken++;
    if (q.known('p', json)) {
      known++;
      assert.equal(truth, true, `known, but the parse path says ${String(truth)}: ${json}`);
    }
  }
  assert.ok(known > 1000, `known: ${known}`);
  assert.ok(broken > 1000, `broken: ${broken}`);
});
