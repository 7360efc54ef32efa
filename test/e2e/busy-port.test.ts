import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { removeDir, runCli, workDir } from './spawned.ts';

test('serve on a busy port says so and exits 1 (it does not linger)', { timeout: 30_000 }, async () => {
  const holder = createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  const port = (holder.address() as { port: number }).port;
  const { dir, file } = await workDir({ store: 'memory' });
  try {
    const t0 = Date.now();
    const r = await runCli(['serve', '--config', file, '--port', String(port)], { dir, timeoutMs: 20_000 });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /port is already in use/);
    assert.ok(Date.now() - t0 < 15_000, 'exited promptly');
  } finally {
    holder.close();
    await removeDir(dir);
  }
});
