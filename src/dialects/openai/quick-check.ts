/**
 * A 2xx non-stream answer checked without parsing it whole: on the hot path the body goes to the
 * client byte for byte, so all llmux needs is "is this a complete answer and not an error in a 200",
 * and the usage counts. Anything unusual answers `null` and the caller parses the body fully
 * (routing/attempt.ts `checkBody`). It checks structure, not every byte: a body with balanced
 * brackets but a syntax error inside (`{"a" 1}`) would pass; what it checks:
 *
 * - the body is one JSON object: `{` … `}`, brackets balanced, closing exactly at its last byte;
 * - no string in it is `"error"` (as a key or a value; `\"error\"` inside a text is not one);
 * - the list key (`"choices"`, or `"data"` for embeddings), at the top level, holds a non-empty array;
 * - the first `"usage"`, when present, is the object's own, and its counts are read in place.
 *
 * Keys and `"error"` are recognised as whole JSON strings, as a parse would see them: a text that
 * ends in an escaped quote followed by the name (`"x\"usage"`) is not the key. On a body that is not
 * JSON (unbalanced quotes, mismatched bracket kinds) the answer may differ from a parse's; the
 * upstream's framing has already delivered the whole body, and the client gets it as it came.
 *
 * The body is read as a latin1 string (one character per byte: JSON's structure is ASCII, and no byte
 * of a multi-byte UTF-8 character is a quote, a backslash or a bracket), because V8 searches a string
 * natively from JavaScript: one pass jumps from quote to quote with `String#indexOf` and looks at the
 * few bytes between strings. A byte loop over a Buffer, and `Buffer#indexOf` (a C++ call each time),
 * cost about twice as much on the bench's 840-byte answer.
 */
import { readUsage, usageCounts, type UsageCounts } from './sse.ts';

const WS = new Uint8Array(256);
for (const c of [0x20, 0x09, 0x0a, 0x0d]) WS[c] = 1;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** The first byte at or after `i` that is not JSON whitespace (or the length). */
export function skipWs(b: Buffer, i: number): number {
  while (i < b.length && WS[b[i]!] === 1) i++;
  return i;
}

/** `skipWs` for a string (characters past the end read as NaN, not whitespace). */
function skipWsAt(s: string, i: number): number {
  while (WS[s.charCodeAt(i)] === 1) i++;
  return i;
}

/** The last character after `first` that is not JSON whitespace (or `first`). */
function lastNonWs(s: string, first: number, end: number): number {
  let last = end - 1;
  while (last > first && WS[s.charCodeAt(last)] === 1) last--;
  return last;
}

/** The quote that closes the string opened at `open`, at or before `last`; -1 if none. */
function closeQuote(s: string, open: number, last: number): number {
  for (let q = s.indexOf('"', open + 1); q !== -1 && q <= last; q = s.indexOf('"', q + 1)) {
    let slashes = 0;
    for (let p = q - 1; s.charCodeAt(p) === BACKSLASH; p--) slashes++;
    if ((slashes & 1) === 0) return q;
  }
  return -1;
}

/** What `walk` found: where the list key and the first `"usage"` open, and where the usage value closes. */
const found = { list: -1, usage: -1, usageEnd: -1 };

/**
 * One pass over the object `s[first..last]`: true when it closes exactly at `last`, holds no `"error"`
 * string, has `listName` as a key of its own, and its first `"usage"` (if any) is its own too. Fills
 * `found`; `usageEnd` is the bracket that brings the depth back to the top level after the usage key
 * (its value's end, when that value is an object).
 */
function walk(s: string, first: number, last: number, listName: string): boolean {
  found.list = -1;
  found.usage = -1;
  found.usageEnd = -1;
  let depth = 0;
  for (let j = first; j <= last; j++) {
    const c = s.charCodeAt(j);
    if (c === QUOTE) {
      const q = closeQuote(s, j, last);
      if (q === -1) return false;
      const n = q - j - 1;
      if (n === 5) {
        const c1 = s.charCodeAt(j + 1);
        if (c1 === 0x65 && s.startsWith('error', j + 1)) return false;
        if (c1 === 0x75 && found.usage === -1 && s.startsWith('usage', j + 1)) {
          if (depth !== 1) return false;
          found.usage = j;
        }
      }
      if (found.list === -1 && n === listName.length && s.charCodeAt(j + 1) === listName.charCodeAt(0) && s.startsWith(listName, j + 1)) {
        if (depth !== 1) return false;
        found.list = j;
      }
      j = q;
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      if (--depth === 0 && j !== last) return false;
      if (depth === 1 && found.usage !== -1 && found.usageEnd === -1) found.usageEnd = j;
    }
  }
  return depth === 0 && found.list !== -1;
}

/** After the key whose opening quote is at `key` (`len` characters, quotes included): the value's first character, or -1 without a colon. */
function valueAt(s: string, key: number, len: number): number {
  const i = skipWsAt(s, key + len);
  return s.charCodeAt(i) === 0x3a ? skipWsAt(s, i + 1) : -1;
}

/**
 * The usage value at `v` (`found.usageEnd` its end when it is an object), read in place: its counts,
 * `null` for `null`, or `undefined` when it is anything else or has unusual numbers (with `parse`,
 * those are parsed from the value alone instead).
 */
function usageValue(s: string, v: number, parse: boolean): UsageCounts | null | undefined {
  if (v < 0) return undefined;
  if (s.charCodeAt(v) === 0x6e) return s.startsWith('null', v) ? null : undefined;
  const end = found.usageEnd;
  if (s.charCodeAt(v) !== 0x7b || end < v || s.charCodeAt(end) !== 0x7d) return undefined;
  const counts = usageNumbers(s, v, end);
  if (counts) return counts;
  if (!parse) return undefined;
  try {
    return readUsage(JSON.parse(s.slice(v, end + 1)));
  } catch {
    return undefined;
  }
}

/** `{ usage }` when the body passes the quick check, `null` when it needs a full parse. */
export function quickCheckBody(b: Buffer, listKey: '"choices"' | '"data"'): { usage: UsageCounts | null } | null {
  const s = b.toString('latin1');
  const first = skipWsAt(s, 0);
  const last = lastNonWs(s, first, s.length);
  if (s.charCodeAt(first) !== 0x7b || s.charCodeAt(last) !== 0x7d) return null;
  if (!walk(s, first, last, listKey === '"choices"' ? 'choices' : 'data')) return null;
  // The list: a non-empty array (an empty one is a failure: let checkBody say so).
  const p = valueAt(s, found.list, listKey.length);
  if (p < 0 || s.charCodeAt(p) !== 0x5b) return null;
  const q = skipWsAt(s, p + 1);
  if (q >= last || s.charCodeAt(q) === 0x5d) return null;
  if (found.usage < 0) return { usage: null };
  const usage = usageValue(s, valueAt(s, found.usage, 7), true);
  return usage === undefined ? null : { usage };
}

/**
 * The counts of the usage object `s[start..end]`, read in one pass without a parse from its top-level
 * integer fields (nested detail objects skipped), counted as `readUsage` counts the parsed object;
 * null when anything looks unusual (the caller then parses).
 */
function usageNumbers(s: string, start: number, end: number): UsageCounts | null {
  // An escape anywhere in the object (a key spelt `prompt\u005ftokens`) is left to the parse, which
  // decodes it.
  const escape = s.indexOf('\\', start);
  if (escape !== -1 && escape < end) return null;
  // undefined: not present. Counts are whole and not negative here (digits only).
  let prompt: number | undefined;
  let completion: number | undefined;
  let total: number | undefined;
  let i = skipWsAt(s, start + 1);
  while (i < end) {
    if (s.charCodeAt(i) !== QUOTE) return null;
    const k = closeQuote(s, i, end);
    if (k === -1) return null;
    // Which count the key names: 1 prompt_tokens, 2 completion_tokens, 3 total_tokens, 0 another.
    const len = k - i - 1;
    const which = len === 13 && s.startsWith('prompt_tokens', i + 1) ? 1
      : len === 17 && s.startsWith('completion_tokens', i + 1) ? 2
      : len === 12 && s.startsWith('total_tokens', i + 1) ? 3 : 0;
    // A count named twice is left to the parse (whose last one wins, whatever its value).
    if ((which === 1 && prompt !== undefined) || (which === 2 && completion !== undefined) || (which === 3 && total !== undefined)) return null;
    i = skipWsAt(s, k + 1);
    if (s.charCodeAt(i) !== 0x3a) return null;
    i = skipWsAt(s, i + 1);
    const c = s.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) {
      let n = 0;
      const from = i;
      for (let d = c; d >= 0x30 && d <= 0x39; d = s.charCodeAt(++i)) n = n * 10 + (d - 0x30);
      if (i - from > 15) return null; // beyond exact integers: let the parse (and readUsage) judge
      const after = s.charCodeAt(i);
      if (after === 0x2e || after === 0x65 || after === 0x45) return null; // a fraction or exponent
      if (which === 1) prompt = n;
      else if (which === 2) completion = n;
      else if (which === 3) total = n;
    } else if (c === 0x7b) {
      // A detail object: skipped whole (valueEnd counts both kinds of bracket: a mismatched one is left to the parse).
      const after = valueEnd(s, i, end);
      if (after < 0) return null;
      i = after;
    } else if (c === 0x6e && s.startsWith('null', i)) {
      i += 4;
    } else return null;
    i = skipWsAt(s, i);
    if (s.charCodeAt(i) === 0x2c) i = skipWsAt(s, i + 1);
    else if (i === end) break;
    else return null;
  }
  return usageCounts(prompt, completion, total);
}

/** Is the character before `i`, after any JSON whitespace, `code`? Answers where it is (or -1). */
function before(s: string, i: number, code: number): number {
  let j = i - 1;
  while (WS[s.charCodeAt(j)] === 1) j--;
  return s.charCodeAt(j) === code ? j : -1;
}

/**
 * The usage chunk as providers send it, `{…, "choices": [], "usage": {…}}` with the usage object its
 * last member, read from its end without visiting the strings before it: a value that closes just
 * before the object's own closing bracket is a member of the top level, whatever comes before it.
 * The rest of `quickUsageEvent`'s rules hold as the walk holds them: no `"error"` string in the event,
 * this `"usage"` the event's first, and (when `choices` is asked for) the `"choices"` member just
 * before it the event's first; `emptyChoices` is then true. Without `choices`, `emptyChoices` is
 * false and says nothing (the relay asks only when it may drop the event). `undefined` when the event
 * has another form, or unusual numbers: the walk decides. `first`/`last`: the event's `{` and `}`.
 *
 * Not checked here, where the walk checked it: the brackets and quotes of the members before the
 * usage. The relay reads events only after commit, and forwards them without checking their JSON;
 * so an event already broken before its usage member, ending as the usual usage chunk does, has its
 * counts taken and is dropped when the caller did not ask for usage (it would have reached the
 * caller as an event no JSON parser reads). For JSON that parses, the answer is the walk's.
 */
export function usageAtEnd(text: string, first: number, last: number, choices: boolean): { usage: UsageCounts; emptyChoices: boolean } | undefined {
  const close = before(text, last, 0x7d);
  if (close < 0) return undefined;
  // Needles that start with a letter: one that starts with a quote is searched by another algorithm,
  // whose table is built on every call (several times slower on a chunk's event).
  const key = text.lastIndexOf('usage"', close) - 1;
  if (key <= first || text.charCodeAt(key) !== QUOTE || text.charCodeAt(key - 1) === BACKSLASH || text.indexOf('usage"', first) !== key + 1) return undefined;
  const v = valueAt(text, key, 7);
  // The value must be the object that closes there: usageNumbers reads its members up to `close`
  // exactly, or gives up.
  if (v < 0 || text.charCodeAt(v) !== 0x7b) return undefined;
  const comma = before(text, key, 0x2c);
  if (comma < 0) return undefined;
  const err = text.indexOf('rror"', first);
  if (err !== -1 && err < last) return undefined;
  const usage = usageNumbers(text, v, close);
  if (usage === null) return undefined;
  if (!choices) return { usage, emptyChoices: false };
  // `"choices": [] ,` just before: the top level's list, empty.
  const open = before(text, before(text, before(text, comma, 0x5d), 0x5b), 0x3a);
  const name = open < 0 ? -1 : before(text, open, QUOTE) - 8;
  if (name <= first || !text.startsWith('"choices"', name) || text.charCodeAt(name - 1) === BACKSLASH || text.indexOf('hoices"', first) !== name + 2) return undefined;
  return { usage, emptyChoices: true };
}

/**
 * A stream event [start, end) of a chunk's text that is one `data: {…}` line carrying a usage object, read without a parse (the
 * usage chunk that ends most streams): its counts, and whether its `choices` list is empty (the
 * usage-only chunk a caller who did not ask for usage must not get; with `choices` false it is not
 * looked for, and reads false). `null` when anything is unusual (an error key, another field, a cut
 * object): the caller parses the event. The usual form is read from its end (`usageAtEnd`); any other
 * is walked whole.
 */
export function quickUsageEvent(text: string, start: number, end: number, choices = true): { usage: UsageCounts | null; emptyChoices: boolean } | null {
  // data: {…}\n\n, nothing else in the event (`text` is the chunk's latin1 string, as the relay reads it)
  if (!text.startsWith('data:', start)) return null;
  const first = skipWsAt(text, start + 5);
  const last = lastNonWs(text, first, end);
  if (text.charCodeAt(first) !== 0x7b || text.charCodeAt(last) !== 0x7d) return null;
  const line = text.indexOf('\n', first);
  if (line !== -1 && line < last) return null;
  const atEnd = usageAtEnd(text, first, last, choices);
  if (atEnd !== undefined) return atEnd;
  // The first "usage" must be the object's own (a nested one, even a null, is left to the parse).
  if (!walk(text, first, last, 'choices') || found.usage < 0) return null;
  const p = valueAt(text, found.list, 9);
  if (p < 0 || text.charCodeAt(p) !== 0x5b) return null;
  const emptyChoices = text.charCodeAt(skipWsAt(text, p + 1)) === 0x5d;
  // Unusual numbers are left to the parse of the whole event, which also judges its JSON.
  const usage = usageValue(text, valueAt(text, found.usage, 7), false);
  return usage === undefined ? null : { usage, emptyChoices };
}

/**
 * Where the value of the top-level member `key` of the JSON object `raw` lies, in bytes [start, end),
 * when that value is a string: what a request body's model is replaced in, so that a body whose only
 * change is its model (a route's upstream name) goes on as the caller's own bytes but for that value.
 * Re-serialising the parsed body instead took 62 µs for a 36 KB chat and 580 µs for 220 KB, and
 * rewrote what a parse does not keep (a 20-digit `seed`, `1.0`, the keys' order).
 *
 * `raw` must be JSON (the request was parsed before). Read as a latin1 string, as `quickCheckBody`
 * reads answers: from quote to quote with `String#indexOf`, brackets counted between strings. null
 * when the member is absent or not a string, when any top-level key is named twice (a parse keeps
 * the last; the upstream's parser might keep the first, or refuse the body: re-serialised, it gets
 * one), or when a top-level key holds an escape (it could spell `key`, or another key twice).
 */
export function topLevelStringValue(raw: Buffer, key: string): { start: number; end: number } | null {
  const s = raw.toString('latin1');
  const last = s.length - 1;
  let i = skipWsAt(s, 0);
  if (s.charCodeAt(i) !== 0x7b) return null;
  i = skipWsAt(s, i + 1);
  let found: { start: number; end: number } | null = null;
  const keys = new Set<string>();
  for (;;) {
    if (s.charCodeAt(i) !== QUOTE) return null;
    const k = closeQuote(s, i, last);
    if (k === -1) return null;
    for (let p = i + 1; p < k; p++) if (s.charCodeAt(p) === BACKSLASH) return null;
    const name = s.slice(i + 1, k);
    if (keys.has(name)) return null;
    keys.add(name);
    const named = name === key;
    i = skipWsAt(s, k + 1);
    if (s.charCodeAt(i) !== 0x3a) return null;
    const v = skipWsAt(s, i + 1);
    const e = valueEnd(s, v, last);
    if (e === -1) return null;
    if (named) {
      if (s.charCodeAt(v) !== QUOTE) return null;
      found = { start: v, end: e };
    }
    i = skipWsAt(s, e);
    const c = s.charCodeAt(i);
    if (c === 0x2c) i = skipWsAt(s, i + 1);
    else return c === 0x7d && skipWsAt(s, i + 1) === s.length ? found : null;
  }
}

/** Just after the JSON value that starts at `i` (ending at or before `last`); -1 when it does not end. */
function valueEnd(s: string, i: number, last: number): number {
  const c = s.charCodeAt(i);
  if (c === QUOTE) {
    const q = closeQuote(s, i, last);
    return q === -1 ? -1 : q + 1;
  }
  if (c === 0x7b || c === 0x5b) {
    let depth = 0;
    for (let j = i; j <= last; j++) {
      const d = s.charCodeAt(j);
      if (d === QUOTE) {
        j = closeQuote(s, j, last);
        if (j === -1) return -1;
      } else if (d === 0x7b || d === 0x5b) depth++;
      else if ((d === 0x7d || d === 0x5d) && --depth === 0) return j + 1;
    }
    return -1;
  }
  // A number, true, false or null: up to the next delimiter.
  let j = i;
  while (j <= last) {
    const d = s.charCodeAt(j);
    if (d === 0x2c || d === 0x7d || d === 0x5d || WS[d] === 1) break;
    j++;
  }
  return j > i ? j : -1;
}
