import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { applyTrafficFlags, flagName, nodeGave, retainMapsForGcs, trafficFlags } from './v8-flags.ts';

const run = promisify(execFile);

test('the traffic settings are made in order, but a flag the user gave Node is left as given', () => {
  const set: string[] = [];
  applyTrafficFlags((f) => set.push(f), ['--trace-gc']);
  assert.deepEqual(set, ['--no-allocation-site-pretenuring', `--retain-maps-for-n-gc=${retainMapsForGcs}`]);
  assert.deepEqual(set, [...trafficFlags]);

  const kept: string[] = [];
  applyTrafficFlags((f) => kept.push(f), ['--allocation_site_pretenuring', '-retain_maps_for_n_gc=2']);
  assert.deepEqual(kept, []);
});

test('flag names are read as V8 reads them: one dash or two, `_` as `-`, `--no-` for either polarity', () => {
  assert.equal(flagName('--no-allocation-site-pretenuring'), 'allocation-site-pretenuring');
  assert.equal(flagName('-retain_maps_for_n_gc=7'), 'retain-maps-for-n-gc');
  assert.equal(nodeGave(['--no_allocation_site_pretenuring'], 'allocation-site-pretenuring'), true);
  assert.equal(nodeGave(['--retain-maps-for-n-gc-x=1', '---retain-maps-for-n-gc=1', 'retain-maps-for-n-gc=1'], 'retain-maps-for-n-gc'), false);
});

/**
 * Node's tick object (`{ [async_id_symbol]: …, …, callback, args }`) is built property by property
 * from the empty object's map. Bursts of ticks with full collections between them (what a gateway
 * sees between bursts of traffic) drop its maps, and each burst builds new ones: with V8's default
 * retention the stores of the literal end megamorphic. V8's own `%DebugPrint` of `process.nextTick`
 * lists its feedback slots and their state.
 */
const script = (settings: boolean): string => `
${settings ? `const { applyTrafficFlags } = await import(${JSON.stringify(new URL('./v8-flags.ts', import.meta.url).href)}); applyTrafficFlags();` : ''}
const noop = () => {};
for (let c = 0; c < 8; c++) {
  for (let r = 0; r < 20; r++) {
    for (let i = 0; i < 500; i++) process.nextTick(noop, i);
    await new Promise((resolve) => setImmediate(resolve));
  }
  globalThis.gc();
  globalThis.gc();
}
new Function('f', '%DebugPrint(f)')(process.nextTick);
`;

async function literalStates(settings: boolean): Promise<string[]> {
  const { stdout } = await run(process.execPath, ['--allow-natives-syntax', '--expose-gc', '--input-type=module', '-e', script(settings)], { maxBuffer: 16 * 1024 * 1024 });
  return [...stdout.matchAll(/slot #\d+ DefineKeyedOwnPropertyInLiteral (\w+)/g)].map((m) => m[1]!);
}

test("Node's tick object keeps its maps across quiet spells with the settings (and loses them without)", { timeout: 60_000 }, async () => {
  const without = await literalStates(false);
  assert.ok(without.length >= 4, `the tick object's property stores were found in the feedback (${without.join(', ')})`);
  // The pathology the setting is for, shown first: without it the scenario does turn the stores
  // megamorphic (if a Node upgrade stops that, the setting may no longer be needed).
  assert.ok(without.includes('MEGAMORPHIC'), `without the settings some stores end megamorphic (${without.join(', ')})`);
  const withSettings = await literalStates(true);
  assert.equal(withSettings.length, without.length);
  assert.deepEqual(withSettings.filter((s) => s !== 'MONOMORPHIC'), [], `with the settings every store stays monomorphic (${withSettings.join(', ')})`);
});
