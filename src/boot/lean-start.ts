/**
 * The other half of bin/llmux.js's start-up setting: the launcher keeps V8's young generation at its
 * initial size while modules load and the config compiles (bursts of short-lived allocations that
 * would otherwise grow it and keep that resident while the gateway idles). Once the gateway
 * listens, traffic may grow it again (V8's default growth factor is 2).
 *
 * Also from then on, the old generation may grow to twice what a full collection left alive before
 * the next one starts. V8's own rule (heap-controller.cc) sets the next limit at the larger of the
 * live size times a factor it picks from its collector's speed against the program's (1.1 when, as
 * here, little is promoted) and the live size plus 8 MB, plus the young generation's target size at
 * that moment; marking starts once the room left is no more than the young generation's target. In
 * some benchmark runs, after idle gaps, that room was gone after every young collection: a full
 * mark-compact every 0.3-0.5 s, 16-56 µs a streamed request in V8's helper threads (BENCHMARKS.md,
 * fourteenth to sixteenth rounds; a young generation shrunk while idle, then grown back by traffic,
 * fits: read in V8's source, not traced). A fixed factor of 2 leaves room of the live size itself.
 * 1.5 was tried and collected more often than V8's own choice does when it is well. Set after
 * start-up, so the heap start-up builds is not kept larger (idle RSS unchanged).
 */
import v8 from 'node:v8';

const marker = Symbol.for('llmux.leanStart');

/** How far (per cent) the old generation grows past its live size before marking starts, once the gateway listens. */
export const heapGrowingPercent = 100;

export function endLeanStart(): void {
  const g = globalThis as { [marker]?: boolean };
  if (!g[marker]) return;
  g[marker] = false;
  v8.setFlagsFromString('--semi-space-growth-factor=2');
  v8.setFlagsFromString(`--heap-growing-percent=${heapGrowingPercent}`);
}
