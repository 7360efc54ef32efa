/**
 * A string function remembered for the arguments the request path repeats (a client's key, the names
 * on every log line). Bounded: past `max` distinct arguments everything is forgotten at once, so a
 * caller that sends a new value every time costs a map that empties now and then, never memory.
 */
export function boundedMemo(fn: (s: string) => string, max: number): (s: string) => string {
  const seen = new Map<string, string>();
  return (s: string): string => {
    let v = seen.get(s);
    if (v === undefined) {
      v = fn(s);
      if (seen.size >= max) seen.clear();
      seen.set(s, v);
    }
    return v;
  };
}
