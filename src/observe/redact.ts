/**
 * Scrubbing secrets out of anything about to be written to disk (debug captures). SPEC §8: keys and
 * Authorization headers are never written anywhere. Captured bodies come from callers and upstreams,
 * so they can be arbitrarily deep or (from in-process objects) cyclic: the walk is iterative, never
 * recursive, and the result is always plain JSON-safe data.
 */

export const redacted = '[redacted]';

/**
 * Field names whose value is a secret whatever it looks like: credential headers and key fields.
 * Compared lower-cased, so `Authorization`, `X-Api-Key` and `apiKey` all match.
 */
const secretNames = new Set([
  'authorization', 'proxy-authorization', 'x-api-key', 'api-key', 'cookie', 'set-cookie',
  'api_key', 'apikey', 'key', 'keys',
]);

/**
 * Key shapes that may appear inside any string (an upstream error echoing the key, a pasted header).
 * Not preceded by a letter or digit, so words such as "task-management-board" survive.
 */
const secretPatterns = /(?<![A-Za-z0-9])(?:sk-[A-Za-z0-9_-]{8,}|AIza[0-9A-Za-z_-]{10,})/g;

/**
 * Nesting beyond this becomes "[too deep]": the output goes to JSON.stringify, which recurses, so an
 * unbounded depth here would only move the stack overflow there.
 */
export const maxDepth = 1000;

export function redactString(s: string): string {
  return s.replace(secretPatterns, redacted);
}

type Container = Record<string, unknown> | unknown[];

interface Frame {
  src: Container;
  out: Container;
  keys: string[];
  i: number;
  depth: number;
}

/**
 * A deep copy of `value` with secrets replaced by "[redacted]"; `value` is not modified (the event
 * object it comes from is shared with other subscribers).
 *
 * - a field in `secretNames` (any case) becomes "[redacted]" whatever its value;
 * - `sk-…` / `AIza…` key shapes inside any string are replaced;
 * - a reference back to an ancestor becomes "[circular]" (a shared, non-cyclic object is copied twice);
 * - `toJSON()` is honoured (Date, Buffer), Errors become `{name, message, code?}`, bigints strings,
 *   functions and symbols are dropped as JSON.stringify would.
 */
export function redactDeep(value: unknown): unknown {
  const root = leaf(value);
  if (!isContainer(root)) return root;
  const top = open(root, 0);
  const stack: Frame[] = [top];
  // Objects on the current path: only these make a cycle.
  const ancestors = new Set<object>([root]);
  while (stack.length > 0) {
    const f = stack[stack.length - 1]!;
    if (f.i >= f.keys.length) {
      stack.pop();
      ancestors.delete(f.src);
      continue;
    }
    const k = f.keys[f.i++]!;
    const isArray = Array.isArray(f.src);
    const raw = isArray ? (f.src as unknown[])[Number(k)] : (f.src as Record<string, unknown>)[k];
    let v: unknown;
    if (!isArray && secretNames.has(k.toLowerCase())) v = redacted;
    else {
      const c = leaf(raw);
      if (!isContainer(c)) v = c;
      else if (ancestors.has(c)) v = '[circular]';
      else if (f.depth + 1 >= maxDepth) v = '[too deep]';
      else {
        const child = open(c, f.depth + 1);
        ancestors.add(c);
        stack.push(child);
        v = child.out;
      }
    }
    if (isArray) (f.out as unknown[]).push(v === undefined ? null : v);
    else if (v !== undefined) (f.out as Record<string, unknown>)[k] = v;
  }
  return top.out;
}

function isContainer(v: unknown): v is Container {
  return typeof v === 'object' && v !== null;
}

function open(src: Container, depth: number): Frame {
  return Array.isArray(src)
    ? { src, out: [], keys: Array.from(src.keys(), String), i: 0, depth }
    : { src, out: {}, keys: Object.keys(src), i: 0, depth };
}

/** Scalars redacted, objects normalised to what JSON would see; containers are walked by the caller. */
function leaf(v: unknown): unknown {
  switch (typeof v) {
    case 'string':
      return redactString(v);
    case 'bigint':
      return v.toString();
    case 'function':
    case 'symbol':
      return undefined;
    case 'number':
      return Number.isFinite(v) ? v : null;
    case 'object': {
      if (v === null) return null;
      if (v instanceof Error) {
        const code = (v as NodeJS.ErrnoException).code;
        return { name: v.name, message: redactString(v.message), ...(code === undefined ? {} : { code: String(code) }) };
      }
      const toJSON = (v as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') {
        try {
          const j: unknown = toJSON.call(v);
          // A toJSON that returns itself (or another object) is walked like any object.
          return typeof j === 'object' && j !== null ? j : leaf(j);
        } catch {
          return '[unserialisable]';
        }
      }
      return v;
    }
    default:
      return v;
  }
}
