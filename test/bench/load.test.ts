import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { luaString, parseWrkReport, runLoad, wrkInstalled, wrkScript } from '../../bench/load.ts';
import { reapedMicros } from '../../bench/proc.ts';

/** The strings of a script's Lua long-bracket literals, read as Lua reads them (the newline after the opening bracket dropped). */
function longStrings(lua: string): string[] {
  const out: string[] = [];
  const open = /\[(=*)\[/g;
  for (let m = open.exec(lua); m !== null; m = open.exec(lua)) {
    const close = `]${m[1]}]`;
    const start = m.index + m[0].length;
    const end = lua.indexOf(close, start);
    assert.ok(end > 0, `unclosed long string at ${m.index}`);
    const raw = lua.slice(start, end);
    out.push(raw.startsWith('\n') ? raw.slice(1) : raw);
    open.lastIndex = end + close.length;
  }
  return out;
}

test('Lua long strings: any text without a carriage return comes back exactly, whatever brackets it holds or ends with', () => {
  for (const text of ['', '\n', '\nfirst line', '["a"]', 'a]', 'a]=', 'a]==', ']]', ']=]', 'x]==]y]=]z]]', '{"a":"]]x]=]"}', 'Bearer sk-x', '中文 🌍']) {
    const lua = `x = ${luaString(text)}`;
    assert.deepEqual(longStrings(lua), [text], JSON.stringify(text));
  }
  assert.throws(() => luaString('a\r\nb'), /carriage return/);
});

test('the wrk script: the body from its file, the headers exactly, the connections for undoing wrk\'s latency correction', () => {
  const lua = wrkScript({ headers: { authorization: 'Bearer sk-x', 'content-type': 'application/json' }, connections: 32 }, '/tmp/llmux-wrk-x/0.json');
  assert.match(lua, /^wrk\.method = "POST"$/m);
  assert.deepEqual(longStrings(lua), ['/tmp/llmux-wrk-x/0.json', 'authorization', 'Bearer sk-x', 'content-type', 'application/json']);
  assert.match(lua, /io\.open\([\s\S]*?, "rb"\)/);
  // A table index with a long string needs a space after `[`, or Lua reads `[[[` as the string's start.
  assert.ok(!lua.includes('headers[['));
  assert.match(lua, /local conns = 32$/m);
  assert.match(lua, /LLMUX_WRK/);
});

test('wrk figures: 2xx responses, their rate, latency in ms, socket errors and statuses of 400 or more apart', () => {
  const out = 'Running 2s test @ http://127.0.0.1:1/v1/chat/completions\n  1 threads and 32 connections\n\nLLMUX_WRK {"requests":30010,"durationUs":2000500,"connect":0,"read":2,"write":1,"status":10,"timeout":3,"p50Us":1763,"p99Us":12059}\n';
  const r = parseWrkReport(out);
  assert.equal(r.requests, 30000);
  assert.equal(r.non2xx, 10);
  assert.equal(r.errors, 6);
  assert.ok(Math.abs(r.seconds - 2.0005) < 1e-9);
  assert.ok(Math.abs(r.rps - 30000 / 2.0005) < 1e-6);
  assert.equal(r.p50, 1.763);
  assert.equal(r.p99, 12.059);
  assert.deepEqual(r.statusCodes, { '400-599': 10 });
  assert.deepEqual(parseWrkReport(out.replace('"status":10', '"status":0')).statusCodes, {});
});

test('wrk figures: output without them is an error that shows what wrk said', () => {
  assert.throws(() => parseWrkReport('unable to connect to 127.0.0.1:1 Connection refused\n'), /wrk printed no figures: unable to connect/);
  // A script error goes to stderr: shown too.
  assert.throws(() => parseWrkReport('Running 1s test\n', 'PANIC: unprotected error in call to Lua API'), /Running 1s test\nPANIC/);
  assert.throws(() => parseWrkReport(''), /wrk printed no figures: \(nothing\)/);
  assert.throws(() => parseWrkReport('LLMUX_WRK {"requests":'), /wrk printed no figures/);
});

test("the noise meter's own share: a child's CPU is counted once it has ended and been waited for", () => {
  const before = reapedMicros(process.pid);
  const r = spawnSync(process.execPath, ['-e', 'const t = Date.now(); while (Date.now() - t < 300) {}']);
  assert.equal(r.status, 0);
  const after = reapedMicros(process.pid);
  // 300 ms of a busy loop, counted in clock ticks (10 ms): at least 200 ms on a loaded machine.
  assert.ok(after - before >= 200_000, `${before} → ${after}`);
  assert.equal(reapedMicros(2 ** 22 + 12345), 0);
});

test('a wrk run against a local server: the exact body and headers arrive, and the figures add up', { skip: wrkInstalled() ? false : 'wrk is not installed (Debian: apt-get install -y wrk)' }, async () => {
  const body = `{"model":"m","messages":[{"role":"user","content":"]]\\"中文\\"]=]"}]}`;
  const seen = { bodies: new Set<string>(), auth: new Set<string>(), n: 0 };
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      seen.n++;
      seen.bodies.add(Buffer.concat(parts).toString('utf8'));
      seen.auth.add(String(req.headers.authorization));
      // every fifth answer refused: counted apart from the 2xx; every tenth 20 ms late
      const answer = (): void => void res.writeHead(seen.n % 5 === 0 ? 429 : 200, { 'content-type': 'application/json' }).end('{}');
      if (seen.n % 10 === 3) setTimeout(answer, 20);
      else answer();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const port = (server.address() as AddressInfo).port;
    const r = await runLoad({ url: `http://127.0.0.1:${port}/v1/chat/completions`, connections: 2, durationS: 0.4, body, headers: { authorization: 'Bearer sk-x' }, generator: 'wrk' });
    assert.deepEqual([...seen.bodies], [body]);
    assert.deepEqual([...seen.auth], ['Bearer sk-x']);
    assert.ok(r.seconds >= 0.9 && r.seconds < 3, `${r.seconds} s (a run is whole seconds)`);
    assert.ok(r.requests > 0 && r.non2xx > 0 && r.errors === 0, JSON.stringify(r));
    // wrk counts the answers it read in full; the server may have answered a few more when it stopped
    assert.ok(r.requests + r.non2xx <= seen.n && seen.n - (r.requests + r.non2xx) <= 2, `${r.requests + r.non2xx} of ${seen.n}`);
    // The percentiles of the responses: nine in ten answered at once, one in ten after 20 ms. wrk's own
    // correction for coordinated omission, left in, put the median at about 2 ms (made-up samples).
    assert.ok(r.p50 > 0 && r.p50 < 1.5, `p50 ${r.p50} ms`);
    assert.ok(r.p99 >= 19 && r.p99 < 40, `p99 ${r.p99} ms`);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
