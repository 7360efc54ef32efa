// npm's `postinstall`: one start of the gateway, stopped as an operator stops it (SIGTERM), so that
// Node's compile cache (bin/compile-cache.js) already holds what a start compiles when the first real
// start comes. Without it the first start after installing or upgrading type-strips every module,
// and loads the TypeScript stripper to do it: about 120 MiB idle instead of about 93 (BENCHMARKS.md,
// "Still open" as the twenty-third round left it; bench/HISTORY.md, twenty-fourth round).
//
// The start is `npm start`'s (the embedded defaults: 127.0.0.1, a SQLite store under ./data) with
// port 0 for a free one, in an empty temporary folder and without the environment's provider keys,
// so it reads none of the user's files and calls no upstream. It never fails the install: on an
// older Node, with the cache turned off, or when anything goes wrong it says so in one line and
// exits 0 (and package.json runs it with `|| exit 0`, for a folder copied without scripts/).
// `npm install --ignore-scripts` skips it; `npm run warm-cache` runs it again.
//
// Node keeps the cache per Node binary, V8 flags and user: a gateway run by another Node, with other
// flags (NODE_OPTIONS is passed on, so the user's own are matched) or as another user than the
// install's does not find it and fills its own at its first start. The Postgres store and the
// Redis state, loaded only when configured, are compiled at their first start too.
//
// Plain JavaScript, runnable by any Node: it may run before (or without) the Node 24 llmux needs.
import { spawn } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const launcher = fileURLToPath(new URL('../bin/llmux.js', import.meta.url));
const [major] = process.versions.node.split('.').map(Number);
/** Longest wait for the gateway to listen, then for it to exit. */
const listenMs = 30_000;
const exitMs = 10_000;

function say(line) {
  process.stderr.write(`llmux: ${line}\n`);
}

/**
 * The environment the start gets: what finds programs and folders, and the user's own Node settings
 * (the cache is kept per set of V8 flags); no keys. A relative NODE_COMPILE_CACHE is made absolute:
 * the start runs in another folder.
 */
export function startEnv(env = process.env, cwd = process.cwd()) {
  const out = {};
  for (const name of ['PATH', 'HOME', 'USERPROFILE', 'TMPDIR', 'TEMP', 'TMP', 'SYSTEMROOT', 'NODE_OPTIONS', 'NODE_COMPILE_CACHE']) {
    if (env[name] !== undefined) out[name] = env[name];
  }
  if (out.NODE_COMPILE_CACHE) out.NODE_COMPILE_CACHE = resolve(cwd, out.NODE_COMPILE_CACHE);
  return out;
}

/** The line of a failed start's stderr that says why (not Node's closing version line). */
export function reason(stderr) {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !/^Node\.js v\d/.test(l));
  return (lines.find((l) => /error/i.test(l)) ?? lines.pop() ?? '').slice(0, 200);
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
      // The gateway writes the cache before it says it listens (src/main.ts): however it then ends
      // (on Windows a signal ends a process at once), the cache is written.
      if (listening) resolve({ ok: true });
      else resolve({ ok: false, why: `it did not start (${reason(err) || `exit ${signal ?? code}`})` });
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
