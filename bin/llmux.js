#!/usr/bin/env node
// Launcher: the CLI is TypeScript run by Node's type stripping (Node >= 24).
import v8 from 'node:v8';
import { enableCompileCache } from './compile-cache.js';

const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  console.error(`llmux needs Node.js 24 or newer (this is ${process.version}). Run it through npm (npm start / npm run llmux), which uses the Node 24 pinned in package.json, or install Node 24.`);
  process.exit(1);
}
// Node's compile cache, in the package's node_modules/.cache (bin/compile-cache.js, where it is
// explained; NODE_DISABLE_COMPILE_CACHE=1 turns it off): from the second start on, also after a
// reboot, the TypeScript stripper is never loaded (about 25 MB less memory) and start-up is faster.
enableCompileCache();
// Start-up allocates in bursts that would grow V8's young generation towards its maximum and keep it resident
// while the gateway idles; it stays at its initial size until the gateway listens (main.ts lets it
// grow again for traffic: src/boot/lean-start.ts). See BENCHMARKS.md (memory).
v8.setFlagsFromString('--semi-space-growth-factor=1');
// The V8 settings for traffic (allocation-site pretenuring off; one of Node's tick objects and the
// maps optimised code depends on kept): src/boot/v8-flags.ts, where each is explained; the bench's
// bare proxy makes them too.
const { applyTrafficSettings } = await import('../src/boot/v8-flags.ts');
applyTrafficSettings();
globalThis[Symbol.for('llmux.leanStart')] = true;
// process.nextTick, optimised before the gateway loads. Node calls it several times a request
// (stream ends, socket writes, `finish`); when V8 optimised it later, under traffic, with the
// gateway's modules loaded, it built a version that created every tick object through a runtime
// call (a search of the empty object's map transitions) instead of inline: about 2.5 % of the
// gateway's CPU in a perf profile, none in the bare proxy's. Optimised here, on a clean heap, in
// about 40 ms, it stays inline (bench/HISTORY.md, eleventh round), and with the maps it was built
// against kept (src/boot/v8-flags.ts), also after the gateway has been quiet. Only for `serve`.
const command = process.argv[2];
if (command === undefined || command === 'serve' || (command.startsWith('-') && !['-h', '--help', '-V', '--version'].includes(command))) {
  const noop = () => {};
  for (let round = 0; round < 60; round++) {
    for (let i = 0; i < 1000; i++) process.nextTick(noop);
    await new Promise((resolve) => setImmediate(resolve));
  }
}
await import('../src/cli.ts');
