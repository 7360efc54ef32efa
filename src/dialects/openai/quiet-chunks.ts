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
 * reads: it parses as the template did and is judged as it was, quiet. Anything else (another
 * shape, other fields, another order, a space after a colon) is parsed as before, and its verdict
 * teaches a new template when it is quiet.
 */

interface Template {
  /** From the quote that closes the id to `"created":` inclusive. */
  readonly mid: string;
  /** After the creation time's digits, to the end. */
  readonly tail: string;
}

const OPEN = '{"id":"';
const CREATED = '"created":';
/** An id that needs no escaping and cannot end the string early. */
const SAFE_ID = /^[\w.:-]{1,200}$/;
/** Templates kept (one per upstream provider); past this the cache starts again. */
const MAX_TEMPLATES = 256;

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** A copy of `s` that shares no memory with the chunk it was cut from (a slice would keep the whole chunk alive). */
function own(s: string): string {
  return Buffer.from(s, 'latin1').toString('latin1');
}

/** The template of a quiet event's JSON text, or null when it does not start with a plain id followed, later, by `"created":` and digits. */
function templateOf(json: string): Template | null {
  if (!json.startsWith(OPEN)) return null;
  const idEnd = json.indexOf('"', OPEN.length);
  if (idEnd === -1 || !SAFE_ID.test(json.slice(OPEN.length, idEnd))) return null;
  const k = json.indexOf(CREATED, idEnd);
  if (k === -1) return null;
  let d = k + CREATED.length;
  while (isDigit(json.charCodeAt(d))) d++;
  if (d === k + CREATED.length) return null;
  return { mid: own(json.slice(idEnd, k + CREATED.length)), tail: own(json.slice(d)) };
}

/**
 * Is `json` the template's text with another safe id and another whole number as its creation time?
 * The long parts are compared as whole strings (`===`), which V8 does natively; `startsWith` with a
 * string that is not a constant is compiled into a character loop, about twice as slow here.
 */
function fits(json: string, t: Template): boolean {
  if (!json.startsWith(OPEN)) return false;
  const idEnd = json.indexOf('"', OPEN.length);
  if (idEnd === -1) return false;
  const from = idEnd + t.mid.length;
  if (json.slice(idEnd, from) !== t.mid || !SAFE_ID.test(json.slice(OPEN.length, idEnd))) return false;
  let to = from;
  while (isDigit(json.charCodeAt(to))) to++;
  // A JSON number: one digit at least, no leading zero, and short enough to be a time.
  if (to === from || to - from > 16 || (json.charCodeAt(from) === 0x30 && to - from > 1)) return false;
  return json.length - to === t.tail.length && json.slice(to) === t.tail;
}

/** Templates of quiet events, one per key (the upstream provider). */
export class QuietChunks {
  readonly #templates = new Map<string, Template>();

  /** Is the event's JSON text a quiet event already seen from this upstream (above)? */
  known(key: string, json: string): boolean {
    const t = this.#templates.get(key);
    return t !== undefined && fits(json, t);
  }

  /** The event's JSON text was parsed and found quiet: keep its template for the next ones. */
  learn(key: string, json: string): void {
    const t = templateOf(json);
    if (t === null) return;
    if (this.#templates.size >= MAX_TEMPLATES && !this.#templates.has(key)) this.#templates.clear();
    this.#templates.set(key, t);
  }
}
