/**
 * Quiet stream events recognised without a parse. Before a stream commits, the relay must know that
 * each event is JSON (a broken one fails the attempt over) and whether it carries content; the event
 * that nearly every stream starts with, the role chunk (`"delta":{"role":"assistant","content":""}`),
 * is neither broken nor content, and its `JSON.parse` was the largest single cost of the relay's look
 * at a stream (BENCHMARKS.md). A hand-written JSON check costs about what the parse does; this does
 * not check the JSON again, it recognises the same event.
 *
 * An upstream sends the same role chunk on every stream but for its `id` and `created` values:
 * `{"id":"chatcmpl-…","object":"chat.completion.chunk","created":1763900000,…}`. Once a role chunk
 * has been parsed and found quiet (JSON, an object, no content, no error, no usage: nothing for the
 * relay to do), its text around those two values is kept as a template. A later event that is the
 * template with another id (letters, digits and `_ . : -` only, so nothing to escape) and another
 * whole number (digits only) is the same JSON with two values changed, neither of which the relay
 * reads: it parses as the template did and is judged as it was, quiet. A last member
 * `"obfuscation":"…"` (OpenAI's padding, random characters of random length on every event) is a
 * third value that may change, under the same rule as the id. Anything else (another shape, other
 * fields, another order, a space after a colon) is parsed as before, and its verdict teaches a new
 * template when it is quiet. A few templates are kept per provider (one per model that streams
 * through it), the one in use first; a provider whose role chunks stop repeating is looked up, and
 * taught, only now and then until one is known again.
 */

interface Template {
  /** From the quote that closes the id to `"created":` inclusive. */
  readonly mid: string;
  /** After the creation time's digits: to the end, or, with `padded`, to the padding member. */
  readonly tail: string;
  /** Ends with `,"obfuscation":"…"}`, a padding string of its own length on every event. */
  readonly padded: boolean;
}

const OPEN = '{"id":"';
const CREATED = '"created":';
/**
 * The padding member OpenAI adds to stream events by default (`stream_options.include_obfuscation`):
 * random characters, so that an event's size does not tell its text. The relay never reads it.
 */
const PAD = ',"obfuscation":"';
/** The longest id a template takes. */
const MAX_ID = 200;
/** Templates kept a provider (one an upstream model that streams through it), most recently used first. */
const PER_KEY = 4;
/** Keys kept (upstream providers); past this the cache starts again. */
const MAX_KEYS = 256;
/** Events longer than this teach no template (role chunks are a few hundred bytes). */
const MAX_LEARN = 4096;

/**
 * Are the characters of `s` from `from` to `to` all letters, digits, `_`, `.`, `:` or `-` (none needs
 * escaping, none ends a string)? An id must be such a run of 1 to MAX_ID characters, a padding value
 * any number. A loop over the characters in place: a regular expression wanted a slice first, and its
 * call cost about 0.3 µs a streamed request in a CPU profile (bench/HISTORY.md, twenty-second round).
 */
export function safeRun(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    // a-z, A-Z, 0-9 and ':' (0x30-0x3a), '_', '.', '-'
    if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x3a) || c === 0x5f || c === 0x2e || c === 0x2d)) return false;
  }
  return true;
}

/** Is `s` from `from` to `to` an id a template takes? */
function safeId(s: string, from: number, to: number): boolean {
  return to > from && to - from <= MAX_ID && safeRun(s, from, to);
}

/** Just past the run of ASCII digits that starts at `i` (`i` itself when there is none). */
function digitsEnd(s: string, i: number): number {
  for (let c = s.charCodeAt(i); c >= 0x30 && c <= 0x39; c = s.charCodeAt(++i));
  return i;
}

/** The template of a quiet event's JSON text, or null when it does not start with a plain id followed, later, by `"created":` and digits. */
function templateOf(json: string): Template | null {
  if (json.length > MAX_LEARN || !json.startsWith(OPEN)) return null;
  const idEnd = json.indexOf('"', OPEN.length);
  if (idEnd === -1 || !safeId(json, OPEN.length, idEnd)) return null;
  const k = json.indexOf(CREATED, idEnd);
  if (k === -1) return null;
  const d = digitsEnd(json, k + CREATED.length);
  if (d === k + CREATED.length) return null;
  // One flat copy, so that the template keeps nothing of the chunk it was cut from alive (a slice would).
  const own = ` ${json}`.slice(1);
  const pad = own.lastIndexOf(PAD);
  const padded = pad > d && own.endsWith('"}') && safeRun(own, pad + PAD.length, own.length - 2);
  return { mid: own.slice(idEnd, k + CREATED.length), tail: own.slice(d, padded ? pad : own.length), padded };
}

/**
 * Is `json` the template's text with another safe id, another whole number as its creation time and,
 * for a padded template, another padding? The long parts are compared as whole strings (`===`), which
 * V8 does natively; `startsWith` with a string that is not a constant is compiled into a character
 * loop, about twice as slow here.
 */
function fits(json: string, t: Template): boolean {
  if (!json.startsWith(OPEN)) return false;
  const idEnd = json.indexOf('"', OPEN.length);
  if (idEnd === -1) return false;
  const from = idEnd + t.mid.length;
  if (json.slice(idEnd, from) !== t.mid) return false;
  const to = digitsEnd(json, from);
  // A JSON number: one digit at least, no leading zero, and short enough to be a time.
  if (to === from || to - from > 16 || (json.charCodeAt(from) === 0x30 && to - from > 1)) return false;
  const end = to + t.tail.length;
  // The comparisons that fail first on another model's event before the character checks.
  if (t.padded) {
    const value = end + PAD.length;
    if (!(json.length >= value + 2 && json.slice(to, end) === t.tail && json.slice(end, value) === PAD
      && json.charCodeAt(json.length - 2) === 0x22 && json.charCodeAt(json.length - 1) === 0x7d
      && safeRun(json, value, json.length - 2))) return false;
  } else if (!(json.length === end && json.slice(to) === t.tail)) return false;
  return safeId(json, OPEN.length, idEnd);
}

interface Entry {
  /** Most recently used first. */
  readonly templates: Template[];
  /** Events not known since the last one that was. */
  misses: number;
  /** The last event was looked for and not known: the next `learn` takes its template. */
  learn: boolean;
}

/**
 * A provider whose role chunks do not repeat (a model for every request, say) would pay on every
 * stream for templates it never uses: after this many misses in a row, only every `RELEARN_EVERY`th
 * event is looked for, and teaches a template when it is not known.
 */
const MISSES_BEFORE_BACKOFF = 8;
const RELEARN_EVERY = 64;

/** Templates of quiet events, a few per key (the upstream provider). */
export class QuietChunks {
  readonly #entries = new Map<string, Entry>();

  /** Is the event's JSON text a quiet event already seen from this upstream (above)? */
  known(key: string, json: string): boolean {
    const e = this.#entries.get(key);
    if (e === undefined) return false;
    if (e.misses >= MISSES_BEFORE_BACKOFF && e.misses % RELEARN_EVERY !== 0) {
      e.misses++;
      e.learn = false;
      return false;
    }
    const ts = e.templates;
    for (let i = 0; i < ts.length; i++) {
      if (!fits(json, ts[i]!)) continue;
      // The template in use goes first, so that the commonest is tried first.
      if (i > 0) ts.unshift(ts.splice(i, 1)[0]!);
      e.misses = 0;
      return true;
    }
    e.misses++;
    e.learn = true;
    return false;
  }

  /** The event's JSON text was parsed and found quiet: keep its template for the next ones. */
  learn(key: string, json: string): void {
    let e = this.#entries.get(key);
    if (e !== undefined && !e.learn) return;
    const t = templateOf(json);
    if (t === null) return;
    if (e === undefined) {
      if (this.#entries.size >= MAX_KEYS) this.#entries.clear();
      e = { templates: [], misses: 0, learn: true };
      this.#entries.set(key, e);
    }
    e.templates.unshift(t);
    if (e.templates.length > PER_KEY) e.templates.pop();
  }
}
