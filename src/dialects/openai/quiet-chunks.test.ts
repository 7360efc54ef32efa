import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QuietChunks, safeRun } from './quiet-chunks.ts';
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

test('OpenAI\'s padding (a last "obfuscation" member of random characters and length) may change too', () => {
  const q = new QuietChunks();
  const pad = (id: string, created: number, p: string): string => role(id, created, `,"obfuscation":"${p}"`);
  q.learn('p', pad('chatcmpl-1', 1763900000, 'Xw3k'));
  for (const same of [pad('chatcmpl-2', 1763900001, ''), pad('chatcmpl-3', 2, 'aZ09_.:-aZ09_.:-aZ09'), pad('chatcmpl-4', 3, 'q')]) {
    assert.equal(q.known('p', same), true, same);
    assert.equal(quiet(same), true, same);
  }
  for (const other of [
    pad('chatcmpl-2', 1, 'a"b'),
    pad('chatcmpl-2', 1, 'a\\b'),
    pad('chatcmpl-2', 1, 'a b'),
    pad('chatcmpl-2', 1, 'x').slice(0, -1),
    `${pad('chatcmpl-2', 1, 'x').slice(0, -1)},"usage":{"prompt_tokens":1}}`,
    role('chatcmpl-2', 1), // no padding at all: another shape
    pad('chatcmpl-2', 1, 'x').replace('"content":""', '"content":"hi"'),
  ]) {
    assert.equal(q.known('p', other), false, other);
  }
  // Unpadded and padded templates of one provider live side by side.
  q.learn('p', role('chatcmpl-5', 9));
  assert.equal(q.known('p', role('chatcmpl-6', 10)), true);
  assert.equal(q.known('p', pad('chatcmpl-7', 11, 'zz')), true);
});

test('a few templates a provider (one a model), the one in use first; long events teach none', () => {
  const q = new QuietChunks();
  const model = (m: string, id: string): string => role(id, 5).replace('"model":"gpt-4o-mini"', `"model":"${m}"`);
  for (const m of ['m1', 'm2', 'm3', 'm4']) q.learn('p', model(m, 'x'));
  for (const m of ['m1', 'm2', 'm3', 'm4']) assert.equal(q.known('p', model(m, 'y')), true, m);
  q.learn('p', model('m5', 'x'));
  assert.equal(q.known('p', model('m5', 'y')), true);
  // m1 was the one used least recently when m5 came: it went; the others stay.
  assert.equal(q.known('p', model('m1', 'y')), false);
  for (const m of ['m2', 'm3', 'm4']) assert.equal(q.known('p', model(m, 'y')), true, m);
  const long = role('x', 1).replace('"model":"gpt-4o-mini"', `"model":"${'m'.repeat(5000)}"`);
  q.learn('big', long);
  assert.equal(q.known('big', long), false);
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
  // A fresh cache for every event: a run of misses would otherwise send it into its backoff (below).
  const fresh = (): QuietChunks => {
    const q = new QuietChunks();
    q.learn('p', role('chatcmpl-0', 1763900000));
    q.learn('p', role('chatcmpl-0', 1763900000, ',"obfuscation":"abc"'));
    return q;
  };
  let known = 0;
  let broken = 0;
  for (let n = 0; n < 20_000; n++) {
    // Mostly edits near the id and the time, where a template lets text vary; some anywhere.
    let json = role(`chatcmpl-${Math.floor(rand() * 1e6)}`, Math.floor(rand() * 2e9), rand() < 0.5 ? `,"obfuscation":"${'ab9_'.slice(0, Math.floor(rand() * 5))}"` : '');
    const near = rand() < 0.8;
    for (let m = 1 + Math.floor(rand() * 2); m > 0; m--) {
      if (near) {
        const i = rand() < 0.7 ? 6 + Math.floor(rand() * 60) : json.length - 1 - Math.floor(rand() * 30);
        const r = rand();
        json = r < 0.33 ? json.slice(0, i) + json.slice(i + 1) : r < 0.66 ? json.slice(0, i) + pick(chars) + json.slice(i) : json.slice(0, i) + pick(chars) + json.slice(i + 1);
      } else json = mutate(json);
    }
    const truth = quiet(json);
    if (truth === 'broken') broken++;
    if (fresh().known('p', json)) {
      known++;
      assert.equal(truth, true, `known, but the parse path says ${String(truth)}: ${json}`);
    }
  }
  assert.ok(known > 1000, `known: ${known}`);
  assert.ok(broken > 1000, `broken: ${broken}`);
});

test('a provider whose role chunks never repeat stops paying for templates, and takes them up again when they do', () => {
  const q = new QuietChunks();
  const fresh = (i: number): string => role('x', i).replace('"model":"gpt-4o-mini"', `"model":"model-${i}"`);
  let looked = 0;
  for (let i = 0; i < 200; i++) {
    const json = fresh(i);
    if (q.known('p', json)) assert.fail('a new model every time is never known');
    // What the relay does after a miss: parse, then learn.
    q.learn('p', json);
  }
  // Back to one model: within a backoff period it is known again, and from then on every time.
  const steady = (i: number): string => role(`id${i}`, i);
  let firstHit = -1;
  for (let i = 0; i < 200; i++) {
    if (q.known('p', steady(i))) {
      if (firstHit === -1) firstHit = i;
      looked++;
    } else q.learn('p', steady(i));
  }
  assert.ok(firstHit >= 0 && firstHit <= 130, `known again after ${firstHit} streams`);
  assert.equal(looked, 200 - firstHit, 'and every time after');
});

test('the id and padding check takes exactly the characters of /[\\w.:-]/, in place', () => {
  const re = /^[\w.:-]*$/;
  for (let c = 0; c < 0x300; c++) {
    const ch = String.fromCharCode(c);
    assert.equal(safeRun(`"${ch}"`, 1, 2), re.test(ch), `character ${c}`);
  }
  const rand = seededRandom(22);
  const alphabet = 'aZ09_.:-"\\ /\u00e9\u4e2d{}';
  for (let i = 0; i < 2000; i++) {
    let s = '';
    for (let n = Math.floor(rand() * 12); n > 0; n--) s += alphabet[Math.floor(rand() * alphabet.length)];
    assert.equal(safeRun(`x${s}y`, 1, 1 + s.length), re.test(s), JSON.stringify(s));
  }
  // Only the range is read.
  assert.equal(safeRun('"abc"', 1, 4), true);
  assert.equal(safeRun('"abc"', 0, 4), false);
});

test('an id of 1 to 200 such characters teaches a template; an empty or longer one does not', () => {
  const q = new QuietChunks();
  q.learn('p', role('', 1));
  assert.equal(q.known('p', role('', 2)), false);
  q.learn('p', role('x'.repeat(201), 1));
  assert.equal(q.known('p', role('x'.repeat(201), 2)), false);
  q.learn('p', role('x'.repeat(200), 1));
  assert.equal(q.known('p', role('y'.repeat(200), 2)), true);
  assert.equal(q.known('p', role('y'.repeat(199) + '"', 2)), false);
});
