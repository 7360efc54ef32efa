import { test } from 'node:test';
import assert from 'node:assert/strict';
import { killAll, removeDir, spawnGateway, workDir } from './spawned.ts';

// bin/llmux.js optimises process.nextTick before the gateway's modules load (bench/HISTORY.md, eleventh
// round): optimised later, under traffic, V8 built a version that made every tick object through a
// runtime call. V8's own trace says when it optimised the function; it must be done, with the
// optimising compiler, before the gateway listens.
test('serve: process.nextTick is optimised (TurboFan) before the gateway listens', { timeout: 30_000 }, async () => {
  const { dir, file } = await workDir({ store: 'memory' });
  try {
    const g = await spawnGateway({ dir, file, nodeArgs: ['--trace-opt'] });
    const listening = g.lines.findIndex((l) => l.msg === 'llmux listening');
    const optimised = g.lines.findIndex((l) => typeof l.msg === 'string' && /completed optimizing .*<JSFunction nextTick .*TURBOFAN/.test(l.msg));
    assert.ok(listening > 0, 'the gateway logged that it listens');
    assert.ok(optimised >= 0 && optimised < listening, `nextTick optimised by TurboFan before listening (line ${optimised}, listening at ${listening})`);
    await g.stop();
  } finally {
    await killAll();
    await removeDir(dir);
  }
});
