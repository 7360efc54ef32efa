/**
 * V8 settings for a gateway under traffic, made once at start: by the launcher (bin/llmux.js) before
 * the gateway loads, and by the bench's bare proxy alike, so that the baseline is not slowed by what
 * llmux is spared (BENCHMARKS.md). A flag below that the user gave Node on its command line is left
 * as given (Node refuses these flags in NODE_OPTIONS).
 *
 * - `--no-allocation-site-pretenuring`: V8 allocates an allocation site's objects straight in the old
 *   generation once many of them have outlived young-generation collections, and in our runs it never
 *   went back. Held streams (seconds to minutes each) teach it that about the sites every request
 *   allocates at, and from then on every request's objects, short requests' too, went to the old
 *   generation: a full mark-compact about every second under load and young collections 4× slower
 *   (after 2,000 held streams; bench/HISTORY.md, "Still open").
 * - One of Node's tick objects kept alive, and `--retain-maps-for-n-gc`: between bursts of traffic
 *   no request object is alive, and a full collection then drops the hidden classes (maps) of objects
 *   built property by property: Node's tick object (seven or eight a request), and the gateway's own.
 *   The next burst builds them anew, as new maps, and every property store or load that had seen the
 *   old ones sees one more; after four it is megamorphic for good, a lookup in a cache or a call into
 *   the runtime instead of a check and a store. Measured: after a few quiet spells
 *   `process.nextTick` took 6–9 µs a streamed request instead of about 1 (7–8 % of the gateway's
 *   CPU), and stayed there (bench/HISTORY.md, eighteenth round).
 *   - The tick object kept (`keepTickShape`) holds its maps, and so the tick literal's, alive
 *     through every kind of collection, the memory-reducing ones V8 makes when a process goes quiet
 *     included.
 *   - `--retain-maps-for-n-gc` (V8's default 2) keeps a map that optimised code depends on for that
 *     many full collections after its last object died (not through memory-reducing ones): the
 *     gateway's own shapes. A kept map keeps its prototype alive too; finite, so that shapes seen
 *     once (say, from a client's JSON keys) still go in the end.
 * - `--external-memory-accounted-in-global-limit`: memory outside V8's heap (a Buffer's bytes) counts
 *   towards the limit that starts a full collection, with the heap, instead of starting one by
 *   itself each time it has grown by 64 MB since the last. A gateway reading large bodies allocates
 *   such memory fast: 64 KB socket reads and the joined body, about 400 KB an agent-size request
 *   (200 KB), nearly all of it garbage a young-generation collection frees. With the 64 MB rule that
 *   load ran about six full collections a second, each marking the whole heap, on the main thread
 *   and V8's helpers (245 µs a request in the helpers against the bare proxy's 74). With the flag:
 *   about three (started by the heap's own growth), 12–21 % less CPU an agent-size request, RSS in
 *   the same range. With the bench's small bodies, 2–5 % less CPU or none, in llmux and the bare
 *   proxy alike (bench/HISTORY.md, twenty-fifth round).
 */
import { createHook } from 'node:async_hooks';
import v8 from 'node:v8';

/** Full collections a map optimised code depends on outlives its last object. */
export const retainMapsForGcs = 1000;

/** The flags, in the order they are set. */
export const trafficFlags: readonly string[] = ['--no-allocation-site-pretenuring', `--retain-maps-for-n-gc=${retainMapsForGcs}`, '--external-memory-accounted-in-global-limit'];

/** Make the settings: the flags, but any Node was given on its command line (`execArgv`); and the tick object kept. */
export function applyTrafficSettings(setFlags: (flags: string) => void = v8.setFlagsFromString, execArgv: readonly string[] = process.execArgv): void {
  for (const f of trafficFlags) if (!nodeGave(execArgv, flagName(f))) setFlags(f);
  keepTickShape();
}

/** The tick object kept alive for good (its maps with it). */
let keptTick: object | undefined;

/**
 * Keep one of Node's tick objects (what `process.nextTick` queues) alive for good, caught by an
 * async hook that is on only for the one call; idempotent. Returns it (for tests).
 */
export function keepTickShape(): object | undefined {
  if (keptTick !== undefined) return keptTick;
  const hook = createHook({
    init(_id, type, _trigger, resource) {
      if (type === 'TickObject' && keptTick === undefined) keptTick = resource as object;
    },
  }).enable();
  try {
    process.nextTick(noop);
  } finally {
    hook.disable();
  }
  return keptTick;
}

function noop(): void {}

/** `allocation-site-pretenuring` for `--no-allocation-site-pretenuring`, `retain-maps-for-n-gc` for `--retain-maps-for-n-gc=5`. */
export function flagName(flag: string): string {
  return flag.replace(/^--?/, '').replace(/=.*$/, '').replace(/^no[-_]?/, '').replace(/_/g, '-');
}

/**
 * Did Node get the V8 flag `name` (either polarity) on its command line? V8 takes one dash or two,
 * `-` and `_` alike in names, and `--no-` for booleans.
 */
export function nodeGave(execArgv: readonly string[], name: string): boolean {
  return execArgv.some((a) => /^--?/.test(a) && flagName(a) === name);
}
