/**
 * A 2xx non-stream answer checked without parsing it whole: on the hot path the body goes to the
 * client byte for byte, so all llmux needs is "is this a complete answer and not an error in a 200",
 * and the usage counts. Anything unusual answers `null` and the caller parses the body fully
 * (routing/attempt.ts `checkBody`). It checks structure, not every byte: a body with balanced
 * brackets but a syntax error inside (`{"a" 1}`) would pass; what it checks:
 *
 * - the body is one JSON object: `{` … `}`, brackets balanced, closing exactly at its last byte;
 * - `"error"` appears nowhere as a key or string value (inside a JSON string it would read `\"error\"`);
 * - the list key (`"choices"`, or `"data"` for embeddings), at the top level, holds a non-empty array;
 * - the `"usage"` object, when present, is cut out and parsed on its own.
 */
import { findJsonKey, jsonKey, readUsage, type UsageCounts } from './sse.ts';

const WS = new Uint8Array(256);
for (const c of [0x20, 0x09, 0x0a, 0x0d]) WS[c] = 1;

const ERROR = jsonKey('error');
const CHOICES = jsonKey('choices');
const DATA = jsonKey('data');
const USAGE = jsonKey('usage', 0);

/** The first byte at or after `i` that is not JSON whitespace (or the length). */
export function skipWs(b: Buffer, i: number): number {
  while (i < b.length && WS[b[i]!] === 1) i++;
  return i;
}

/** The last byte after `first` that is not JSON whitespace (or `first`). */
function lastNonWs(b: Buffer, first: number): number {
  let last = b.length - 1;
  while (last > first && WS[b[last]!] === 1) last--;
  return last;
}

/**
 * The usage value whose key opens at `u`, read in place: its counts, `null` for `"usage": null`, or
 * `undefined` when it is cut, closes after `last`, or has unusual numbers (with `parse`, those are
 * parsed from the value alone instead).
 */
function usageAt(b: Buffer, u: number, last: number, parse: boolean): UsageCounts | null | undefined {
  const start = skipColon(b, u + USAGE.length);
  const end = objectEnd(b, start);
  if (end < 0 || end > last) return undefined;
  if (b[start] === 0x6e) return null;
  const counts = usageNumbers(b, start, end);
  if (counts) return readUsage(counts);
  if (!parse) return undefined;
  try {
    return readUsage(JSON.parse(b.toString('utf8', start, end + 1)));
  } catch {
    return undefined;
  }
}

/** `{ usage }` when the body passes the quick check, `null` when it needs a full parse. */
export function quickCheckBody(b: Buffer, listKey: '"choices"' | '"data"'): { usage: UsageCounts | null } | null {
  const first = skipWs(b, 0);
  const last = lastNonWs(b, first);
  if (b[first] !== 0x7b || b[last] !== 0x7d) return null;
  if (findJsonKey(b, ERROR) !== -1) return null;
  const list = listKey === '"choices"' ? CHOICES : DATA;
  const k = findJsonKey(b, list);
  if (k < 0) return null;
  // One object that closes exactly at the last byte, with the list key (and the first "usage", if
  // any: a nested one is left to the parse) at its top level.
  const u = findJsonKey(b, USAGE);
  if (!topLevel(b, first, last, k, u)) return null;
  let p = skipWs(b, k + list.length);
  if (b[p] !== 0x3a) return null; // :
  p = skipWs(b, p + 1);
  if (b[p] !== 0x5b) return null; // [
  p = skipWs(b, p + 1);
  if (p >= last || b[p] === 0x5d) return null; // ] — an empty list is a failure: let checkBody say so
  if (u < 0) return { usage: null };
  const usage = usageAt(b, u, last, true);
  return usage === undefined ? null : { usage };
}

const TOKEN_NAMES = ['prompt_tokens', 'completion_tokens', 'total_tokens'];
const TOKEN_KEYS = TOKEN_NAMES.map((k) => Buffer.from(k));

/**
 * Which token key the bytes `b[from..to)` spell, if any: compared in place, byte by byte (no string
 * per key; a native `compare` call costs more than the dozen bytes it compares).
 */
function tokenKey(b: Buffer, from: number, to: number): string | null {
  next: for (let n = 0; n < TOKEN_KEYS.length; n++) {
    const k = TOKEN_KEYS[n]!;
    if (to - from !== k.length) continue;
    for (let j = 0; j < k.length; j++) if (b[from + j] !== k[j]) continue next;
    return TOKEN_NAMES[n]!;
  }
  return null;
}

/**
 * The top-level integer fields of the usage object `b[start..end]` (nested detail objects skipped),
 * read in one pass without a parse; null when anything looks unusual (the caller then parses).
 */
function usageNumbers(b: Buffer, start: number, end: number): Record<string, number> | null {
  const out: Record<string, number> = {};
  let i = skipWs(b, start + 1);
  while (i < end) {
    if (b[i] !== 0x22) return null;
    // The key's closing quote (keys here are short: a loop beats a native indexOf call).
    let k = i + 1;
    while (k < end && b[k] !== 0x22) k++;
    if (k >= end || b[k - 1] === 0x5c) return null;
    const name = b[i + 1] === 0x70 || b[i + 1] === 0x63 || b[i + 1] === 0x74 ? tokenKey(b, i + 1, k) : null; // p, c, t
    i = skipWs(b, k + 1);
    if (b[i] !== 0x3a) return null;
    i = skipWs(b, i + 1);
    const c = b[i]!;
    if (c >= 0x30 && c <= 0x39) {
      let n = 0;
      const from = i;
      while (i < end && b[i]! >= 0x30 && b[i]! <= 0x39) n = n * 10 + (b[i++]! - 0x30);
      if (i - from > 15) return null; // beyond exact integers: let the parse (and readUsage) judge
      if (b[i] === 0x2e || b[i] === 0x65 || b[i] === 0x45) return null; // a fraction or exponent
      if (name !== null) out[name] = n;
    } else if (c === 0x7b) {
      const close = objectEnd(b, i);
      if (close < 0 || close > end) return null;
      i = close + 1;
    } else if (c === 0x6e && b[i + 1] === 0x75) {
      i += 4; // null
    } else return null;
    i = skipWs(b, i);
    if (b[i] === 0x2c) i = skipWs(b, i + 1);
    else if (i === end) break;
    else return null;
  }
  return out;
}

/**
 * Does the object opened at `first` close exactly at `last` (brackets and braces balanced, strings
 * skipped), with the bytes at `keyAt` and `keyAt2` (keys' opening quotes; -1: none) directly inside it?
 */
function topLevel(b: Buffer, first: number, last: number, keyAt: number, keyAt2 = -1): boolean {
  let depth = 0;
  let keyDepth = -1;
  let key2Depth = keyAt2 === -1 ? 1 : -1;
  for (let j = first; j <= last; j++) {
    const c = b[j];
    if (c === 0x22) {
      if (j === keyAt) keyDepth = depth;
      else if (j === keyAt2) key2Depth = depth;
      for (j++; j <= last && b[j] !== 0x22; j++) if (b[j] === 0x5c) j++;
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if ((c === 0x7d || c === 0x5d) && --depth === 0 && j !== last) return false;
  }
  return depth === 0 && keyDepth === 1 && key2Depth === 1;
}

function skipColon(b: Buffer, i: number): number {
  i = skipWs(b, i);
  return b[i] === 0x3a ? skipWs(b, i + 1) : -1;
}

/** Index of the `}` closing the object that starts at `i` (strings skipped), -1 if none; `null` → its last byte. */
function objectEnd(b: Buffer, i: number): number {
  if (i < 0) return -1;
  if (b[i] === 0x6e) return b.toString('latin1', i, i + 4) === 'null' ? i + 3 : -1;
  if (b[i] !== 0x7b) return -1;
  let depth = 0;
  for (let j = i; j < b.length; j++) {
    const c = b[j];
    if (c === 0x22) {
      // a string: skip to its closing quote
      for (j++; j < b.length && b[j] !== 0x22; j++) if (b[j] === 0x5c) j++;
    } else if (c === 0x7b) depth++;
    else if (c === 0x7d && --depth === 0) return j;
  }
  return -1;
}

/**
 * A stream event that is one `data: {…}` line carrying a usage object, read without a parse (the
 * usage chunk that ends most streams): its counts, and whether its `choices` list is empty (the
 * usage-only chunk a caller who did not ask for usage must not get). `null` when anything is unusual
 * (an error key, another field, a cut object): the caller parses the event.
 */
export function quickUsageEvent(buf: Buffer, start: number, end: number): { usage: UsageCounts | null; emptyChoices: boolean } | null {
  // A view of just this event: Buffer#indexOf has no end bound, and a chunk of many usage-carrying
  // events (continuous usage stats) would be searched to its end for each of them.
  const b = buf.subarray(start, end);
  // data: {…}\n\n, nothing else in the event
  if (b[0] !== 0x64 || b[1] !== 0x61 || b[2] !== 0x74 || b[3] !== 0x61 || b[4] !== 0x3a) return null;
  const first = skipWs(b, 5);
  const last = lastNonWs(b, first);
  if (b[first] !== 0x7b || b[last] !== 0x7d) return null;
  const line = b.indexOf(0x0a, first);
  if (line !== -1 && line < last) return null;
  if (findJsonKey(b, ERROR, first, last) !== -1) return null;
  const k = findJsonKey(b, CHOICES, first, last);
  // The first "usage" must be the object's own (a nested one, even a null, is left to the parse).
  const u = findJsonKey(b, USAGE, first, last);
  if (k < 0 || u < 0 || !topLevel(b, first, last, k, u)) return null;
  let p = skipColon(b, k + CHOICES.length);
  if (p < 0 || b[p] !== 0x5b) return null;
  p = skipWs(b, p + 1);
  const emptyChoices = b[p] === 0x5d;
  // Unusual numbers are left to the parse of the whole event, which also judges its JSON.
  const usage = usageAt(b, u, last, false);
  return usage === undefined ? null : { usage, emptyChoices };
}
