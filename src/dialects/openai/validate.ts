/**
 * Inbound request bodies of the OpenAI dialect: parse (with optional repair), refuse what could hurt
 * (deep nesting, prototype keys), check the types of the fields llmux reads or that upstreams are
 * strict about, and normalise `prompt` on chat. Pure: no I/O.
 */
import { jsonrepair } from 'jsonrepair';
import { LlmuxError } from '../../core/errors.ts';
import { describeJsonError } from './json-where.ts';
import { nonAscii } from './sse.ts';

export const maxDepth = 64;

export interface ParsedBody {
  body: Record<string, unknown>;
  /** True when the text was not valid JSON and was repaired. */
  repaired: boolean;
}

function syntaxWhere(e: unknown, text: string): string {
  const where = describeJsonError(text);
  if (where) return where;
  const m = /position (\d+)/.exec(e instanceof Error ? e.message : String(e));
  return m ? ` at position ${m[1]}` : '';
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parse a request body. Throws LLMUX_ERR_INVALID_JSON with where the parse failed. */
export function parseJsonBody(text: string, repair: boolean): ParsedBody {
  if (isBlank(text)) throw new LlmuxError('LLMUX_ERR_INVALID_JSON', 'The request body is empty; send a JSON object such as {"model": "…", "messages": […]}.');
  let value: unknown;
  let repaired = false;
  try {
    value = JSON.parse(text);
  } catch (first) {
    if (!repair) throw new LlmuxError('LLMUX_ERR_INVALID_JSON', `The request body is not valid JSON${syntaxWhere(first, text)}.`);
    try {
      value = JSON.parse(jsonrepair(text));
      repaired = true;
    } catch {
      value = undefined;
    }
    // Plain text "repairs" into a JSON string: that is no repair of a request body.
    if (!isObject(value)) throw new LlmuxError('LLMUX_ERR_INVALID_JSON', `The request body is not valid JSON${syntaxWhere(first, text)} and could not be repaired.`);
  }
  if (!isObject(value)) {
    throw new LlmuxError('LLMUX_ERR_INVALID_REQUEST', 'The request body must be a JSON object.');
  }
  checkShape(value);
  return { body: value, repaired };
}

/**
 * A request body that holds bytes outside ASCII (any text but English: Chinese, emoji, typographic
 * quotes), parsed from those bytes read as latin1, one character a byte, instead of decoded as UTF-8.
 * V8 keeps a text with any character above U+00FF as two bytes a character, so the decoded body is
 * twice its size and `JSON.parse` reads it more slowly; a text of 128 KB or more also goes to V8's
 * large-object space, whose pages the kernel faults in afresh each time (bench/HISTORY.md,
 * twenty-fifth round: an agent-size request 16 % less CPU under load).
 *
 * JSON's structure is ASCII, and no byte of a multi-byte UTF-8 character is a quote, a backslash, a
 * bracket or a control character (and Node's UTF-8 decoder turns no byte outside ASCII, valid or
 * not, into one), so the latin1 reading parses exactly when the UTF-8 one does, to the same objects,
 * ASCII keys, numbers, booleans and nesting; only text outside ASCII reads differently (each UTF-8
 * byte a latin1 character). Checks of shape and types judge it as they judge
 * the UTF-8 parse, and the body goes on as its bytes. `null` whenever the exact parse must decide:
 * `text` is not a JSON object, a check fails (the exact parse gives the error, with its wording and
 * position), `validate` changes the body (the change is made on the text as sent), or `model` is not
 * ASCII (llmux routes by it). What reads the strings (a re-serialised body, debug capture) parses the
 * bytes again as UTF-8 (`exactBody` in routing/context.ts).
 */
export function parseLatin1Shape(raw: Buffer, validate: (body: Record<string, unknown>) => boolean): Record<string, unknown> | null {
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('latin1'));
  } catch {
    return null;
  }
  if (!isObject(value)) return null;
  try {
    checkShape(value);
    if (validate(value)) return null;
  } catch {
    return null;
  }
  return typeof value.model === 'string' && !nonAscii.test(value.model) ? value : null;
}

function isBlank(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09 && c !== 0xfeff && c !== 0xa0) return text.trim() === '';
  }
  return true;
}

/**
 * Depth ≤ 64 and no `__proto__` / `constructor` / `prototype` keys anywhere. Iterative, so a
 * 100 000-level body cannot overflow the stack (JSON.parse accepts it; a recursive walk would not).
 * The walk keeps no paths (every request pays for it); a body that fails is walked again by
 * `shapeError`, which names where.
 */
export function checkShape(root: object): void {
  const values: unknown[] = [root];
  const depths: number[] = [1];
  while (values.length > 0) {
    const v = values.pop() as object;
    const depth = depths.pop()!;
    if (depth > maxDepth) shapeError(root);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const item: unknown = v[i];
        if (typeof item === 'object' && item !== null) {
          values.push(item);
          depths.push(depth + 1);
        }
      }
    } else {
      for (const k in v) {
        if (k === '__proto__' || k === 'constructor' || k === 'prototype') shapeError(root);
        const item = (v as Record<string, unknown>)[k];
        if (typeof item === 'object' && item !== null) {
          values.push(item);
          depths.push(depth + 1);
        }
      }
    }
  }
}

/** The same walk with paths, for the error message of a body `checkShape` refused. */
function shapeError(root: object): never {
  const stack: Array<[unknown, number, string]> = [[root, 1, '']];
  while (stack.length > 0) {
    const [v, depth, path] = stack.pop()!;
    if (depth > maxDepth) {
      throw new LlmuxError('LLMUX_ERR_INVALID_REQUEST', `JSON nested deeper than ${maxDepth} levels.`, { param: path || null });
    }
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const item: unknown = v[i];
        if (typeof item === 'object' && item !== null) stack.push([item, depth + 1, `${path}[${i}]`]);
      }
    } else {
      for (const k of Object.keys(v as object)) {
        if (k === '__proto__' || k === 'constructor' || k === 'prototype') {
          throw new LlmuxError('LLMUX_ERR_INVALID_REQUEST', `The key "${k}" is not allowed in a request body.`, { param: path ? `${path}.${k}` : k });
        }
        const item = (v as Record<string, unknown>)[k];
        if (typeof item === 'object' && item !== null) stack.push([item, depth + 1, path ? `${path}.${k}` : k]);
      }
    }
  }
  throw new LlmuxError('LLMUX_ERR_INVALID_REQUEST', 'The request body has a shape llmux does not accept.');
}

/** Body fields that must never steer routing or credentials (LiteLLM #24952); removed before forwarding. */
export const forbiddenBodyFields = ['api_base', 'api_key', 'base_url', 'api_version', 'extra_headers', 'headers', 'custom_llm_provider'];

type Kind = 'string' | 'number' | 'integer' | 'boolean' | 'array' | 'object' | 'string|array' | 'stop' | 'object|null';

const chatFields: Record<string, Kind> = {
  model: 'string', messages: 'array', stream: 'boolean', max_tokens: 'integer', max_completion_tokens: 'integer',
  temperature: 'number', top_p: 'number', n: 'integer', presence_penalty: 'number', frequency_penalty: 'number',
  tools: 'array', stop: 'stop', stream_options: 'object|null', user: 'string', seed: 'integer', logprobs: 'boolean',
  response_format: 'object', logit_bias: 'object',
};

const completionFields: Record<string, Kind> = {
  model: 'string', prompt: 'string|array', stream: 'boolean', max_tokens: 'integer', temperature: 'number', top_p: 'number',
  n: 'integer', stop: 'stop', stream_options: 'object|null', echo: 'boolean', suffix: 'string',
};

const embeddingFields: Record<string, Kind> = { model: 'string', input: 'string|array', dimensions: 'integer', encoding_format: 'string' };

const chatRules = rulesOf(chatFields);
const completionRules = rulesOf(completionFields);
const embeddingRules = rulesOf(embeddingFields);

function ok(v: unknown, kind: Kind): boolean {
  switch (kind) {
    case 'string': return typeof v === 'string';
    case 'number': return typeof v === 'number' && Number.isFinite(v);
    case 'integer': return Number.isInteger(v);
    case 'boolean': return typeof v === 'boolean';
    case 'array': return Array.isArray(v);
    case 'object': return typeof v === 'object' && v !== null && !Array.isArray(v);
    case 'object|null': return v === null || (typeof v === 'object' && !Array.isArray(v));
    case 'string|array': return typeof v === 'string' || Array.isArray(v);
    case 'stop': return typeof v === 'string' || (Array.isArray(v) && v.every((s) => typeof s === 'string'));
  }
}

/** Each known field's type, in the table's order: the first wrong one is the one the error names. */
function checkFields(body: Record<string, unknown>, fields: Record<string, Kind>): void {
  for (const name in fields) {
    const v = body[name];
    if (v === undefined || (v === null && name !== 'model')) continue;
    const kind = fields[name]!;
    if (!ok(v, kind)) {
      throw new LlmuxError('LLMUX_ERR_INVALID_REQUEST', `"${name}" must be ${kind === 'stop' ? 'a string or a list of strings' : `of type ${kind.replace('|', ' or ')}`}, got ${JSON.stringify(v)?.slice(0, 40)}.`, { param: name });
    }
  }
}

/** A top-level key's rule: its type, or `forbidden` (removed before forwarding). */
type Rule = Kind | 'forbidden';

/** A dialect's fields (in their order, for the error) and, by name, each top-level key's rule. */
interface Rules {
  readonly fields: Record<string, Kind>;
  readonly byKey: Map<string, Rule>;
}

function rulesOf(fields: Record<string, Kind>): Rules {
  const byKey = new Map<string, Rule>(Object.entries(fields));
  for (const f of forbiddenBodyFields) byKey.set(f, 'forbidden');
  return { fields, byKey };
}

/**
 * One pass over the body's own keys (a request sends a handful): each known field's type checked,
 * forbidden fields removed. Walking the field table instead looked up every field the dialect knows
 * (18 for chat) and then each forbidden name: ≈ 0.7 µs a request, against ≈ 0.2 (BENCHMARKS.md).
 * A wrong type is reported by `checkFields`, so the error names the same field as before whatever
 * the body's key order. Returns true when a forbidden field was removed.
 */
function checkKeys(body: Record<string, unknown>, rules: Rules): boolean {
  let forbidden: string[] | null = null;
  for (const name in body) {
    const rule = rules.byKey.get(name);
    if (rule === undefined) continue;
    if (rule === 'forbidden') {
      (forbidden ??= []).push(name);
      continue;
    }
    const v = body[name];
    if (v === undefined || (v === null && name !== 'model')) continue;
    if (!ok(v, rule)) checkFields(body, rules.fields);
  }
  if (forbidden === null) return false;
  for (const f of forbidden) delete body[f];
  return true;
}

function requireModel(body: Record<string, unknown>): void {
  if (typeof body.model !== 'string' || body.model === '') {
    throw new LlmuxError('LLMUX_ERR_INVALID_REQUEST', 'You must provide a model: "model" is missing or empty.', { param: 'model' });
  }
}

/**
 * Chat: a `prompt` without `messages` becomes one user message (SPEC §7); forbidden fields are
 * removed. Returns true if the body changed.
 */
export function validateChat(body: Record<string, unknown>): boolean {
  let changed = false;
  if (body.messages === undefined && body.prompt !== undefined) {
    if (typeof body.prompt !== 'string') throw new LlmuxError('LLMUX_ERR_INVALID_REQUEST', '"prompt" must be a string.', { param: 'prompt' });
    body.messages = [{ role: 'user', content: body.prompt }];
    delete body.prompt;
    changed = true;
  }
  requireModel(body);
  if (body.messages === undefined) throw new LlmuxError('LLMUX_ERR_INVALID_REQUEST', '"messages" is required.', { param: 'messages' });
  changed = checkKeys(body, chatRules) || changed;
  const msgs = body.messages as unknown[];
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i];
    if (typeof m !== 'object' || m === null || typeof (m as { role?: unknown }).role !== 'string') {
      throw new LlmuxError('LLMUX_ERR_INVALID_REQUEST', `messages[${i}] must be an object with a "role".`, { param: `messages[${i}]` });
    }
  }
  return changed;
}

/** Completions; forbidden fields are removed. Returns true if the body changed. */
export function validateCompletion(body: Record<string, unknown>): boolean {
  requireModel(body);
  if (body.prompt === undefined) throw new LlmuxError('LLMUX_ERR_INVALID_REQUEST', '"prompt" is required.', { param: 'prompt' });
  return checkKeys(body, completionRules);
}

/** Embeddings; forbidden fields are removed. Returns true if the body changed. */
export function validateEmbeddings(body: Record<string, unknown>): boolean {
  requireModel(body);
  if (body.input === undefined) throw new LlmuxError('LLMUX_ERR_INVALID_REQUEST', '"input" is required.', { param: 'input' });
  return checkKeys(body, embeddingRules);
}
