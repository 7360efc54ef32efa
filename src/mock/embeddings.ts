/**
 * Deterministic embeddings: the same input always yields the same small unit vector, so tests can
 * compare results across upstreams and runs without storing fixtures.
 */

const DEFAULT_DIMENSIONS = 8;

/** One input per vector: a string, a token array, or a list of either. */
function splitInputs(input: unknown): string[] {
  if (typeof input === 'string') return [input];
  if (!Array.isArray(input)) return [JSON.stringify(input ?? '')];
  if (input.length > 0 && input.every((x) => typeof x === 'number')) return [JSON.stringify(input)];
  return input.map((x) => (typeof x === 'string' ? x : JSON.stringify(x)));
}

/** FNV-1a 32-bit: a stable seed per input. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** A unit-length vector derived from the input text. */
export function vectorFor(text: string, dimensions: number): number[] {
  let state = fnv1a(text) || 1;
  const raw: number[] = [];
  for (let i = 0; i < dimensions; i++) {
    // xorshift32: enough spread for distinct, repeatable vectors.
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    raw.push(state / 0xffffffff - 0.5);
  }
  const norm = Math.hypot(...raw) || 1;
  return raw.map((v) => Math.round((v / norm) * 1e6) / 1e6);
}

/** float32 little-endian → base64, the wire format the official SDKs request by default. */
function toBase64(vector: number[]): string {
  return Buffer.from(new Float32Array(vector).buffer).toString('base64');
}

/** The `/v1/embeddings` response for a parsed request body. */
export function embeddingsResponse(body: any, model: string): object {
  const inputs = splitInputs(body?.input);
  const dims = typeof body?.dimensions === 'number' && body.dimensions > 0
    ? Math.min(Math.floor(body.dimensions), 4096)
    : DEFAULT_DIMENSIONS;
  const base64 = body?.encoding_format === 'base64';
  const data = inputs.map((text, index) => {
    const vector = vectorFor(text, dims);
    return { object: 'embedding', index, embedding: base64 ? toBase64(vector) : vector };
  });
  const tokens = inputs.reduce((n, t) => n + Math.max(1, Math.ceil(t.length / 4)), 0);
  return { object: 'list', data, model, usage: { prompt_tokens: tokens, total_tokens: tokens } };
}
