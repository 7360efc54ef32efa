import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { applyTrafficSettings, flagName, keepTickShape, nodeGave, retainMapsForGcs, trafficFlags } from './v8-flags.ts';

const run = promisify(execFile);

test('the traffic settings are made in order, but a flag the user gave Node is left as given', () => {
  const set: string[] = [];
  applyTrafficSettings((f) => set.push(f), ['--trace-gc']);
  assert.deepEqual(set, ['--no-allocation-site-pretenuring', `--retain-maps-for-n-gc=${retainMapsForGcs}`, '--external-memory-accounted-in-global-limit']);
  assert.deepEqual(set, [...trafficFlags]);

  const kept: string[] = [];
  applyTrafficSettings((f) => kept.push(f), ['--allocation_site_pretenuring', '-retain_maps_for_n_gc=2', '--no-external-memory-accounted-in-global-limit']);
  assert.deepEqual(kept, []);
});

test('this Node knows every traffic flag (V8 only prints an error for one it does not, and goes on without it)', async () => {
  for (const f of trafficFlags) {
    const { stderr } = await run(process.execPath, ['-e', `require('node:v8').setFlagsFromString(${JSON.stringify(f)})`]);
    assert.equal(stderr, '', f);
  }
});

/**
 * Bytes outside the heap (Buffers) allocated fast and dropped at once, as a gateway reading large
 * bodies does: with the settings they start no full collection; without them V8 starts one every 64 MB.
 */
test('Buffers dropped as fast as they are made start no full collection with the settings (and do without)', { timeout: 60_000 }, async () => {
  const script = (settings: boolean): string => `
    ${settings ? `const { applyTrafficSettings } = await import(${JSON.stringify(new URL('./v8-flags.ts', import.meta.url).href)}); applyTrafficSettings();` : ''}
    const { PerformanceObserver, constants } = await import('node:perf_hooks');
    let major = 0;
    new PerformanceObserver((l) => { for (const e of l.getEntries()) if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) major++; }).observe({ entryTypes: ['gc'] });
    const parts = [Buffer.alloc(65536, 1), Buffer.alloc(65536, 2), Buffer.alloc(65536, 3)];
    let n = 0;
    for (let i = 0; i < 8000; i++) n += Buffer.concat(parts).length;
    await new Promise((r) => setTimeout(r, 100));
    console.log(JSON.stringify({ major, n }));`;
  const majors = async (settings: boolean): Promise<number> => {
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script(settings)]);
    return (JSON.parse(stdout) as { major: number }).major;
  };
  // 1.5 GB of Buffers: V8's 64 MB rule starts about twenty full collections. With the settings none
  // comes of them; one or two may still come of the start-up (loading the TypeScript stripper) when
  // the machine is busy, as under the whole suite.
  const withSettings = await majors(true);
  const without = await majors(false);
  assert.ok(withSettings <= 2, `${withSettings} full collections with the settings`);
  assert.ok(without >= 10, `${without} full collections without them`);
});

test('flag names are read as V8 reads them: one dash or two, `_` as `-`, `--no-` for either polarity', () => {
  assert.equal(flagName('--no-allocation-site-pretenuring'), 'allocation-site-pretenuring');
  assert.equal(flagName('-retain_maps_for_n_gc=7'), 'retain-maps-for-n-gc');
  assert.equal(flagName('--noallocation-site-pretenuring'), 'allocation-site-pretenuring');
  assert.equal(nodeGave(['--no_allocation_site_pretenuring'], 'allocation-site-pretenuring'), true);
  assert.equal(nodeGave(['--retain-maps-for-n-gc-x=1', '---retain-maps-for-n-gc=1', 'retain-maps-for-n-gc=1'], 'retain-maps-for-n-gc'), false);
});

test('one of Node\'s tick objects is kept, the same one on every call', () => {
  const kept = keepTickShape();
  assert.ok(kept !== undefined && typeof kept === 'object');
  assert.equal(keepTickShape(), kept);
  assert.equal((kept as { callback?: unknown }).callback instanceof Function, true);
});

/**
 * Node's tick object (`{ [async_id_symbol]: …, …, callback, args }`) is built property by property
 * from the empty object's map. Bursts of ticks with full collections between them (what a gateway
 * sees between bursts of traffic) drop its maps, and each burst builds new ones: without the
 * settings the stores of the literal end megamorphic. The memory-reducing collections V8 makes when a
 * process goes quiet are the case `--retain-maps-for-n-gc` does not cover. Compiled on the main
 * thread, so that the moment V8 optimises does not depend on the machine's load. V8's own
 * `%DebugPrint` of `process.nextTick` lists its feedback slots and their state.
 */
const script = (settings: boolean, reduce: boolean): string => `
${settings ? `const { applyTrafficSettings } = await import(${JSON.stringify(new URL('./v8-flags.ts', import.meta.url).href)}); applyTrafficSettings();` : ''}
const noop = () => {};
const full = ${reduce ? "{ type: 'major', execution: 'sync', flavor: 'last-resort' }" : 'undefined'};
for (let c = 0; c < 12; c++) {
  for (let r = 0; r < 20; r++) {
    for (let i = 0; i < 500; i++) process.nextTick(noop, i);
    await new Promise((resolve) => setImmediate(resolve));
  }
  globalThis.gc(full);
  globalThis.gc(full);
}
new Function('f', '%DebugPrint(f)')(process.nextTick);
`;

async function literalStates(settings: boolean, reduce: boolean): Promise<string[]> {
  const args = ['--allow-natives-syntax', '--expose-gc', '--no-concurrent-recompilation', '--input-type=module', '-e', script(settings, reduce)];
  const { stdout } = await run(process.execPath, args, { maxBuffer: 16 * 1024 * 1024, timeout: 30_000 });
  return [...stdout.matchAll(/slot #\d+ DefineKeyedOwnPropertyInLiteral (\w+)/g)].map((m) => m[1]!);
}

test("Node's tick object keeps its maps across quiet spells with the settings (and loses them without)", { timeout: 90_000 }, async () => {
  // The pathology the settings are for, shown first: without them the memory-reducing collections
  // do turn the stores megamorphic (if a Node upgrade stops that, the settings may be unneeded).
  const without = await literalStates(false, true);
  assert.ok(without.length >= 4, `the tick object's property stores were found in the feedback (${without.join(', ')})`);
  assert.ok(without.includes('MEGAMORPHIC'), `without the settings some stores end megamorphic (${without.join(', ')})`);
  for (const reduce of [true, false]) {
    const withSettings = await literalStates(true, reduce);
    assert.equal(withSettings.length, without.length);
    assert.deepEqual(withSettings.filter((s) => s !== 'MONOMORPHIC'), [], `with the settings every store stays monomorphic (${reduce ? 'memory-reducing' : 'plain'} collections: ${withSettings.join(', ')})`);
  }
});
