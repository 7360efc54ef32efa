/**
 * The other half of bin/llmux.js's start-up setting: the launcher keeps V8's young generation at its
 * initial size while modules load and the config compiles (bursts of short-lived allocations that
 * would otherwise grow it and keep that resident while the gateway idles). Once the gateway
 * listens, traffic may grow it again (V8's default growth factor is 2).
 *
 * Also from then on, the old generation may grow to 1.5 times what a full collection left alive
 * before the next one starts marking. V8 otherwise picks that factor from how fast its collector is
 * against the program, and under steady traffic it went down to a few MB above the live heap: the
 * little each young collection promotes started a full mark-compact again at once, nine in 6 s in a
 * benchmark's streamed runs, 16–56 µs a request in V8's helper threads (BENCHMARKS.md). Set after
 * start-up, so the heap start-up builds is not kept larger (idle RSS unchanged).
 */
import v8 from 'node:v8';

const marker = Symbol.for('llmux.leanStart');

/** How far the old generation grows past its live size before marking starts, once the gateway listens. */
export const heapGrowingPercent = 50;

export function endLeanStart(): void {
  const g = globalThis as { [marker]?: boolean };
  if (!g[marker]) return;
  g[marker] = false;
  v8.setFlagsFromString('--semi-space-growth-factor=2');
  v8.setFlagsFromString(`--heap-growing-percent=${heapGrowingPercent}`);
}
