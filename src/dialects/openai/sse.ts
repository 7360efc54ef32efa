/**
 * Server-sent events of the OpenAI dialect, read as text. The relay forwards upstream chunks
 * unchanged; this scanner only finds event boundaries so that the few events that matter (the first
 * content event, an error, usage, `[DONE]`) can be recognised. Handles LF, CRLF, events split across
 * chunks and several events per chunk. Pure: no I/O.
 *
 * The searches work on a chunk's bytes as a latin1 string (one character per byte, so an index is a
 * byte offset): SSE framing and JSON structure are ASCII, and no byte of a multi-byte UTF-8 character
 * is a quote, a bracket, a colon or a line feed. The relay makes that string once per chunk; V8
 * searches it from optimised JavaScript, where each `Buffer#indexOf` was a C++ call (with its
 * argument checks and typed-array accessors): about twenty a streamed answer (BENCHMARKS.md).
 */

const LF = 0x0a;
const CR = 0x0d;

/**
 * End of the event that starts at `start` (just after its blank line: "\n\n" or "\n\r\n"), or -1
 * when its blank line has not arrived yet. `searchFrom` skips bytes known to hold no boundary.
 */
export function eventEnd(text: string, start: number, searchFrom = start): number {
  for (let i = text.indexOf('\n', searchFrom); i !== -1; i = text.indexOf('\n', i + 1)) {
    const next = text.charCodeAt(i + 1);
    if (next === LF) return i + 2;
    if (next === CR && text.charCodeAt(i + 2) === LF) return i + 3;
  }
  return -1;
}

/**
 * The end of the last blank line that lies wholly in [lo, hi), or `lo` when there is none: where the
 * event holding byte `hi` starts (for a byte that is not itself a line feed), and with `hi` at the
 * end of the text, where the complete events end. Searches backwards, so it costs the length of
 * one event, not of the text.
 */
export function lastBoundary(text: string, lo: number, hi: number): number {
  if (hi <= lo) return lo;
  // The usual case, a chunk that ends with its events' blank line, without a search: `lastIndexOf`
  // is a call into V8's runtime, where `indexOf` is not (bench/HISTORY.md, seventeenth round).
  if (text.charCodeAt(hi - 1) === LF && hi - 2 >= lo) {
    const before = text.charCodeAt(hi - 2);
    if (before === LF || (before === CR && hi - 3 >= lo && text.charCodeAt(hi - 3) === LF)) return hi;
  }
  for (let i = text.lastIndexOf('\n', hi - 1); i > lo; i = text.lastIndexOf('\n', i - 1)) {
    const before = text.charCodeAt(i - 1);
    if (before === LF || (before === CR && i - 2 >= lo && text.charCodeAt(i - 2) === LF)) return i + 1;
  }
  return lo;
}

/**
 * Incremental event splitter. `push(chunk)` returns the complete events it closes, as
 * [buffer, start, end) ranges over `buf` (the chunk itself when nothing was carried over, so the
 * common case copies nothing), with `text`, the latin1 string of `buf`. `take`/`hold` are the same
 * carry for callers that walk a chunk themselves (the relay jumps from mark to mark instead of
 * visiting every event).
 */
export class SseScanner {
  #carry: Buffer | null = null;
  /** After `take`: where the search for the first blank line may start (the held bytes had none). */
  resume = 0;
  /** Bytes held because no event boundary has been seen yet. */
  get pending(): number {
    return this.#carry?.length ?? 0;
  }

  /** The chunk, behind any bytes held from the chunks before it. */
  take(chunk: Buffer): Buffer {
    const carry = this.#carry;
    if (carry === null) {
      this.resume = 0;
      return chunk;
    }
    this.#carry = null;
    this.resume = Math.max(0, carry.length - 3);
    return Buffer.concat([carry, chunk]);
  }

  /** Hold `buf` from `from` on (the start of an event whose blank line has not arrived). */
  hold(buf: Buffer, from: number): void {
    if (from < buf.length) this.#carry = from === 0 ? buf : buf.subarray(from);
  }

  push(chunk: Buffer, onEvent: (buf: Buffer, start: number, end: number, text: string) => void): void {
    const buf = this.take(chunk);
    const text = buf.toString('latin1');
    let start = 0;
    for (let end = eventEnd(text, 0, this.resume); end !== -1; end = eventEnd(text, start)) {
      if (end > start) onEvent(buf, start, end, text);
      start = end;
    }
    this.hold(buf, start);
  }

  /** What is left when the stream ends (an event without its blank line). */
  rest(): Buffer | null {
    return this.#carry;
  }
}

export type EventKind = 'data' | 'done' | 'comment' | 'empty';

/**
 * The `data` payload of one event (multi-line data joined with "\n"), or null for events without
 * data (comments, `event:`/`id:`/`retry:` only). `event: error` lines are reported via `named`.
 */
export function eventData(buf: Buffer, start: number, end: number, text: string = buf.toString('latin1')): { data: string | null; name: string | null } {
  // The usual event is one `data:` line, found as the relay finds it (`text` is `buf` as latin1),
  // its payload decoded as UTF-8.
  const line = oneDataLine(text, start, end);
  if (line !== null) return { data: nonAscii.test(line) ? Buffer.from(line, 'latin1').toString('utf8') : line, name: null };
  const utf8 = buf.toString('utf8', start, end);
  let data: string | null = null;
  let name: string | null = null;
  for (const rawLine of utf8.split('\n')) {
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data = data === null ? value : `${data}\n${value}`;
    else if (field === 'event') name = value;
  }
  return { data, name };
}

/** A character outside ASCII (in a latin1 string: a byte of a multi-byte UTF-8 character). */
export const nonAscii = /[^\x00-\x7f]/;

/**
 * The payload of an event that is one `data:` line and nothing else, as a slice of `text` (latin1:
 * right for a JSON parse that only judges the event's structure and reads its numbers; text meant
 * for people comes from `eventData`, which decodes UTF-8); null for any other event.
 */
export function oneDataLine(text: string, start: number, end: number): string | null {
  if (!text.startsWith('data:', start)) return null;
  const p = text.charCodeAt(start + 5) === 0x20 ? start + 6 : start + 5;
  const lf = text.indexOf('\n', p);
  if (lf === -1 || lf >= end) return null;
  const q = text.charCodeAt(lf - 1) === CR ? lf - 1 : lf;
  let k = lf;
  for (let c = text.charCodeAt(k); k < end && (c === LF || c === CR); c = text.charCodeAt(++k));
  return k >= end ? text.slice(p, q) : null;
}

/** The event [start, end) of `text` on its own, so that a search in it stops at its end. */
function eventOf(text: string, start: number, end: number): string {
  return start === 0 && end === text.length ? text : text.slice(start, end);
}

/**
 * A JSON key (`"name"`), searched by the characters from its `from`-th letter on and confirmed by
 * the characters before: a needle that starts with `"`, the commonest byte of JSON, stops the search
 * at every string, and one that starts with a common letter at every word.
 */
export interface JsonKey {
  readonly needle: string;
  /** The characters before the needle: the opening quote and the letters skipped. */
  readonly prefix: string;
  /** Characters of `"name"`, quotes included. */
  readonly length: number;
}

export function jsonKey(name: string, from = 1): JsonKey {
  return { needle: `${name.slice(from)}"`, prefix: `"${name.slice(0, from)}`, length: name.length + 2 };
}

/** Where the next `"name"` at or after `from` opens (its first quote), if it opens before `end`; else -1. */
export function findJsonKey(text: string, k: JsonKey, from = 0, end = text.length): number {
  const p = k.prefix;
  for (let i = text.indexOf(k.needle, from + p.length); i !== -1 && i - p.length < end; i = text.indexOf(k.needle, i + 1)) {
    if (text.startsWith(p, i - p.length)) return i - p.length;
  }
  return -1;
}

// `usage"` is found twice as fast as `sage"` in typical chunks (measured); `rror"` beats `error"`.
const USAGE = jsonKey('usage', 0);
const ERROR = jsonKey('error');

/**
 * Fast check: is the event [start, end) of `text` `data: [DONE]`? The line must be exactly
 * `data:[DONE]` (one optional space after the colon): a content chunk whose text says "[DONE]" is
 * not the end of the stream.
 */
export function isDone(text: string, start: number, end: number): boolean {
  const ev = eventOf(text, start, end);
  for (let i = ev.indexOf('[DONE]'); i !== -1; i = ev.indexOf('[DONE]', i + 1)) {
    const j = ev.charCodeAt(i - 1) === 0x20 ? i - 1 : i;
    const line = j - 5;
    if (line >= 0 && ev.startsWith('data:', line) && (line === 0 || ev.charCodeAt(line - 1) === LF)) {
      let k = i + 6;
      for (let c = ev.charCodeAt(k); k < ev.length && (c === 0x20 || c === CR); c = ev.charCodeAt(++k));
      if (k >= ev.length || ev.charCodeAt(k) === LF) return true;
    }
  }
  return false;
}

/** The character code after position `i` and any JSON whitespace (NaN past the end). */
function nextCode(ev: string, i: number): number {
  let c = ev.charCodeAt(i);
  while (c === 0x20 || c === 0x09 || c === LF || c === CR) c = ev.charCodeAt(++i);
  return c;
}

/**
 * True when the event has `"key":` as an object key followed by `{` (a JSON string can only hold an
 * escaped quote, so a raw `"key"` followed by a colon is always a key). Cheap: no JSON parse.
 */
function hasObjectKey(text: string, start: number, end: number, key: JsonKey): boolean {
  const ev = eventOf(text, start, end);
  for (let i = findJsonKey(ev, key); i !== -1; i = findJsonKey(ev, key, i + 1)) {
    let j = i + key.length;
    while (ev.charCodeAt(j) === 0x20) j++;
    if (ev.charCodeAt(j) === 0x3a && nextCode(ev, j + 1) === 0x7b /* { */) return true;
  }
  return false;
}

/** Does the event carry a non-null `usage` object? */
export function hasUsage(text: string, start: number, end: number): boolean {
  return hasObjectKey(text, start, end, USAGE);
}

/** Does the event carry an `error` object (or is it `event: error`)? */
export function hasError(text: string, start: number, end: number): boolean {
  if (hasObjectKey(text, start, end, ERROR)) return true;
  const ev = eventOf(text, start, end);
  const i = ev.indexOf('event:');
  return i !== -1 && ev.slice(i + 6, i + 14).trim().startsWith('error');
}

/** Is the key that ends just before `i` followed by `: null`? (`"usage": null` is no usage: most OpenAI chunks carry it.) */
function nullAfter(text: string, i: number): boolean {
  while (text.charCodeAt(i) === 0x20) i++;
  if (text.charCodeAt(i) !== 0x3a) return false;
  i++;
  while (text.charCodeAt(i) === 0x20) i++;
  return text.startsWith('null', i);
}

/**
 * After commit, most events need no look at all. `QuickScan` finds the marks of one chunk's text once
 * (a handful of searches per chunk, not per event) and then answers per event, for events in order:
 * - `plain`: no mark inside the event: forward it untouched;
 * - `done`: the event is `data: [DONE]`;
 * - `look`: usage, an error, a named event, `[DONE]` somewhere else: the caller parses it.
 */
export class QuickScan {
  #text = '';
  /** The marks of `#text`, found on its first question (null until then). */
  #marks: number[] | null = null;
  #next = 0;
  readonly #lastUsageOnly: boolean;

  /**
   * `lastUsageOnly`: mark only the chunk's last usage object. For a reader that keeps every usage
   * event and remembers only the newest counts (the relay, when the caller asked for usage), the
   * usage events before it need no look: found from the end, it costs the length of one event, where
   * the forward search for every `usage"` cost about a third of the marks' search (BENCHMARKS.md).
   */
  constructor(lastUsageOnly = false) {
    this.#lastUsageOnly = lastUsageOnly;
  }

  /**
   * The chunk whose events are asked about next (its latin1 text). Every chunk is indexed anew, also
   * one with the same bytes as the last: its marks are found on the first question.
   */
  chunk(text: string): void {
    this.#text = text;
    this.#marks = null;
  }

  /** The first mark at or after `from` (asked in increasing order within the chunk), or -1. */
  next(from: number): number {
    const m = this.#marks ?? this.#index();
    while (this.#next < m.length && m[this.#next]! < from) this.#next++;
    return this.#next < m.length ? m[this.#next]! : -1;
  }

  /** What the event [start, end) of the chunk needs (events asked about in order). */
  kind(start: number, end: number): 'plain' | 'done' | 'look' {
    const mark = this.next(start);
    if (mark === -1 || mark >= end) return 'plain';
    // data: [DONE] (or data:[DONE])
    const text = this.#text;
    if (text.startsWith('data:', start) && text.charCodeAt(start + 5 + (text.charCodeAt(start + 5) === 0x20 ? 1 : 0)) === 0x5b) {
      return isDone(text, start, end) ? 'done' : 'look';
    }
    return 'look';
  }

  #index(): number[] {
    const text = this.#text;
    this.#next = 0;
    // The characters that can make an event matter: `"usage"` (unless null), `"error"`, `event:`, `[DONE]`.
    const m: number[] = [];
    if (this.#lastUsageOnly) {
      const i = lastUsageKey(text);
      if (i !== -1) m.push(i);
    } else {
      for (let i = findJsonKey(text, USAGE); i !== -1; i = findJsonKey(text, USAGE, i + 1)) if (!nullAfter(text, i + USAGE.length)) m.push(i);
    }
    for (let i = findJsonKey(text, ERROR); i !== -1; i = findJsonKey(text, ERROR, i + 1)) m.push(i);
    // `vent:` rather than `event:`, and confirmed by its `e`: a needle that starts with a rarer byte
    for (let i = text.indexOf('vent:'); i !== -1; i = text.indexOf('vent:', i + 1)) if (text.charCodeAt(i - 1) === 0x65) m.push(i - 1);
    // `DONE]` rather than `[DONE]`, confirmed by its `[`: every event's `"choices":[` starts a false
    // candidate for the longer needle.
    for (let i = text.indexOf('DONE]', 1); i !== -1; i = text.indexOf('DONE]', i + 1)) if (text.charCodeAt(i - 1) === 0x5b) m.push(i - 1);
    if (m.length > 16) m.sort((a, b) => a - b);
    else sortFew(m);
    this.#marks = m;
    return m;
  }
}

/**
 * Where the last `"usage"` key of the complete events of `text` (those before its last blank line) that
 * is not followed by `: null` opens, or -1. An event still waiting for its blank line is searched
 * again with the next chunk, in front of which it is held.
 */
function lastUsageKey(text: string): number {
  const p = USAGE.prefix;
  const end = lastBoundary(text, 0, text.length);
  if (end <= forwardBelow) {
    // A chunk of an event or a few, as providers send them: forwards, as `#index` finds every usage,
    // where each search is a `memchr` from V8's own code; `lastIndexOf` is a call into its runtime,
    // and on an event with no usage it reads every byte.
    let found = -1;
    for (let i = findJsonKey(text, USAGE, 0, end); i !== -1; i = findJsonKey(text, USAGE, i + 1, end)) if (!nullAfter(text, i + USAGE.length)) found = i;
    return found;
  }
  // A long chunk (a whole answer in one read): from its end, where the usage chunk is.
  for (let i = text.lastIndexOf(USAGE.needle, end - USAGE.needle.length); i >= p.length; i = text.lastIndexOf(USAGE.needle, i - 1)) {
    if (text.startsWith(p, i - p.length) && !nullAfter(text, i - p.length + USAGE.length)) return i - p.length;
  }
  return -1;
}

/** Chunks up to this many bytes are searched forwards for their last usage (`lastUsageKey`). */
const forwardBelow = 2048;

/**
 * Sort a few numbers in place. A chunk's marks are few (usually the usage event and `[DONE]`), and
 * `Array#sort` with a comparator allocated about 800 bytes a call (V8's sampling heap profiler).
 */
function sortFew(a: number[]): void {
  for (let i = 1; i < a.length; i++) {
    const v = a[i]!;
    let j = i - 1;
    for (; j >= 0 && a[j]! > v; j--) a[j + 1] = a[j]!;
    a[j + 1] = v;
  }
}

/**
 * Before commit: does this unmarked event (`QuickScan` said `plain`) carry text? A raw `"content":"`
 * followed by anything but the closing quote is a non-empty string under a `content` key (inside a
 * JSON string the quotes would be escaped), so the event is a content chunk without a parse. `false`
 * means "parse it" (role-only chunks, tool calls, finish reasons), never "not content".
 */
export function hasText(text: string, start: number, end: number): boolean {
  // The event's JSON must at least end as an object does; a cut one is left to the parse (and fails).
  let q = end - 1;
  for (let c = text.charCodeAt(q); q > start && (c === LF || c === CR || c === 0x20); c = text.charCodeAt(--q));
  if (text.charCodeAt(q) !== 0x7d) return false;
  const ev = eventOf(text, start, end);
  for (let i = ev.indexOf('ontent":"'); i !== -1; i = ev.indexOf('ontent":"', i + 1)) {
    if (ev.charCodeAt(i - 1) === 0x63 && ev.charCodeAt(i - 2) === 0x22 && ev.charCodeAt(i + 9) !== 0x22) return true;
  }
  return false;
}

export interface UsageCounts {
  promptTokens: number;
  completionTokens: number;
}

export function readUsage(u: unknown): UsageCounts | null {
  if (typeof u !== 'object' || u === null) return null;
  const o = u as Record<string, unknown>;
  return usageCounts(o.prompt_tokens, o.completion_tokens, o.total_tokens);
}

/**
 * The counts kept of an upstream's `prompt_tokens`, `completion_tokens` and `total_tokens` (each as
 * found: a number, null or absent): without a completion count, the total less the prompt.
 */
export function usageCounts(prompt: unknown, completion: unknown, total: unknown): UsageCounts {
  const p = count(prompt);
  const c = typeof completion === 'number' ? count(completion) : count(typeof total === 'number' ? total - p : 0);
  return { promptTokens: p, completionTokens: c };
}

/** A count from an upstream: finite, whole and not negative, or 0 (limits, metrics and logs add them up). */
function count(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0;
}

/**
 * Does a parsed chunk carry content, the point at which a stream is committed? A role-only delta or
 * an empty one does not count; text, tool calls, refusals, reasoning or a finish reason do.
 */
export function isContentChunk(chunk: unknown): boolean {
  if (typeof chunk !== 'object' || chunk === null) return false;
  const choices = (chunk as { choices?: unknown }).choices;
  if (!Array.isArray(choices)) return false;
  for (const c of choices) {
    if (typeof c !== 'object' || c === null) continue;
    const ch = c as Record<string, unknown>;
    if (ch.finish_reason !== null && ch.finish_reason !== undefined) return true;
    if (typeof ch.text === 'string' && ch.text !== '') return true;
    const d = ch.delta as Record<string, unknown> | undefined;
    if (!d) continue;
    if (typeof d.content === 'string' && d.content !== '') return true;
    if (Array.isArray(d.content) && d.content.length > 0) return true;
    if (d.tool_calls || d.function_call || d.refusal || d.audio) return true;
    if ((typeof d.reasoning === 'string' && d.reasoning !== '') || (typeof d.reasoning_content === 'string' && d.reasoning_content !== '')) return true;
  }
  return false;
}

/** An OpenAI-style in-band error event (SPEC §5: how a cut stream ends). */
export function errorEvent(message: string, type: string, code: string): Buffer {
  return Buffer.from(`data: ${JSON.stringify({ error: { message, type, param: null, code } })}\n\n`);
}

export const doneEvent = Buffer.from('data: [DONE]\n\n');
