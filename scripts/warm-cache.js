// npm's `postinstall`: one start of the gateway, stopped as an operator stops it (SIGTERM), so that
// Node's compile cache (bin/compile-cache.js) already holds what a start compiles when the first real
// start comes. Without it the first start after installing or upgrading type-strips every module,
// and loads the TypeScript stripper to do it: about 120 MiB idle instead of about 93 (BENCHMARKS.md,
// "Still open" as the twenty-third round left it; bench/HISTORY.md, twenty-fourth round).
//
// The start is `npm start`'s (the embedded defaults: 127.0.0.1, a SQLite store under ./data) with
// port 0 for a free one, in an empty temporary folder and without the environment's provider keys,
// so it reads none of the user's files and calls no upstream. It never fails the install: on an older Node, with the cache turned off, or when
// anything goes wrong it says so in one line and exits 0. `npm install --ignore-scripts` skips it.
//
// Plain JavaScript, runnable by any Node: it may run before (or without) the Node 24 llmux needs.
import { spawn } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const launcher = fileURLToPath(new URL('../bin/llmux.js', import.meta.url));
const [major] = process.versions.node.split('.').map(Number);
/** Longest wait for the gateway to listen, then for it to exit. */
const listenMs = 30_000;
const exitMs = 10_000;

function say(line) {
  process.stderr.write(`llmux: ${line}\n`);
}

/** The environment the start gets: what finds programs and folders, and the user's own cache settings; no keys. */
export function startEnv(env = process.env) {
  const out = {};
  for (const name of ['PATH', 'HOME', 'USERPROFILE', 'TMPDIR', 'TEMP', 'TMP', 'SYSTEMROOT', 'NODE_COMPILE_CACHE']) {
    if (env[name] !== undefined) out[name] = env[name];
  }
  return out;
}

/** Start, wait for "llmux listening", stop with SIGTERM; answers how it went. */
function warm(dir) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [launcher, 'serve', '--port', '0'], { cwd: dir, env: startEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let listening = false;
    let out = '';
    let err = '';
    const kill = setTimeout(() => child.kill('SIGKILL'), listenMs + exitMs);
    const giveUp = setTimeout(() => child.kill('SIGTERM'), listenMs);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s) => {
      if (listening) return;
      out = (out + s).slice(-4096);
      if (out.includes('"msg":"llmux listening"')) {
        listening = true;
        clearTimeout(giveUp);
        child.kill('SIGTERM');
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s) => {
      err = (err + s).slice(-2048);
    });
    child.on('error', (e) => {
      clearTimeout(kill);
      clearTimeout(giveUp);
      resolve({ ok: false, why: e.message });
    });
    child.on('exit', (code, signal) => {
      clearTimeout(kill);
      clearTimeout(giveUp);
      if (listening && code === 0) resolve({ ok: true });
      else resolve({ ok: false, why: listening ? `it exited with ${signal ?? code}` : `it did not start (${(err.trim().split('\n').pop() || `exit ${signal ?? code}`).slice(0, 200)})` });
    });
  });
}

async function main() {
  if (!(major >= 24)) return say(`Node ${process.version} is older than the 24 llmux runs on; the compile cache is filled at the first start instead.`);
  if (process.env.NODE_DISABLE_COMPILE_CACHE) return;
  const t0 = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'llmux-warm-'));
  try {
    const r = await warm(dir);
    if (r.ok) say(`compile cache filled in ${((Date.now() - t0) / 1000).toFixed(1)} s: the first start is as quick and as small as later ones.`);
    else say(`could not fill the compile cache (${r.why}); nothing else changes, the first start just takes longer and more memory.`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Run as a script (npm's postinstall), not imported (the tests read `startEnv`). */
function isMain() {
  try {
    return realpathSync(process.argv[1] ?? '') === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  main().catch((e) => say(`could not fill the compile cache (${e?.message ?? e}); nothing else changes.`));
}
