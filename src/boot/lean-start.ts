/**
 * The other half of bin/llmux.js's start-up setting: the launcher keeps V8's young generation at its
 * initial size while modules load and the config compiles (bursts of short-lived allocations that
 * would otherwise grow it and keep that resident while the gateway idles). Once the gateway
 * listens, traffic may grow it again (V8's default growth factor is 2).
 *
 * Also from then on, the old generation may grow to twice what a full collection left alive before
 * the next one starts. V8's own rule (heap-controller.cc) sets the next limit at the larger of the
 * live size times a factor it picks from its collector's speed against the program's (its minimum,
 * 1.1, when little is promoted) and the live size plus 8 MB, plus the young generation's
 * target size; marking starts once the room left is no more than that target. In about one bench
 * run in three that room was gone in late streamed repetitions: a full mark-compact at every young
 * collection, every 0.3-0.5 s, 16-56 µs a streamed request in V8's helper threads (why it lasted
 * whole repetitions is not known; bench/HISTORY.md, fourteenth to sixteenth rounds). With a factor of
 * 2 the room is the live size itself, and no full run with it showed that. 1.5 was tried and
 * collected more often than V8's own choice does when it is well. Set after start-up, so the heap
 * start-up builds is not kept larger (idle RSS unchanged). A `--heap-growing-percent` given to Node
 * on its command line is left as given (0: V8's own choice; Node refuses it in NODE_OPTIONS).
 */
import v8 from 'node:v8';
import { nodeGave } from './v8-flags.ts';

const marker = Symbol.for('llmux.leanStart');

/** How far (per cent) the old generation grows past its live size before marking starts, once the gateway listens. */
export const heapGrowingPercent = 100;

/**
 * Once the gateway listens (main.ts), when the launcher started it lean: the V8 settings for traffic,
 * once. `setFlags` and `execArgv` are V8's and Node's own unless a test passes stand-ins.
 */
export function endLeanStart(setFlags: (flags: string) => void = v8.setFlagsFromString, execArgv: readonly string[] = process.execArgv): void {
  const g = globalThis as { [marker]?: boolean };
  if (!g[marker]) return;
  g[marker] = false;
  setFlags('--semi-space-growth-factor=2');
  if (!givesHeapGrowth(execArgv)) setFlags(`--heap-growing-percent=${heapGrowingPercent}`);
}

/** Did the user give Node a heap growth factor of their own (in any spelling V8 takes)? */
export function givesHeapGrowth(execArgv: readonly string[]): boolean {
  return nodeGave(execArgv, 'heap-growing-percent');
}
