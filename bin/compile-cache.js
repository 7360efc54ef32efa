// Where Node keeps llmux's compile cache: the type-stripped and compiled modules, so that with it
// filled the TypeScript stripper is never loaded (about 28 MB less memory at idle: about 92 MiB
// against 120 from an empty cache) and start-up is faster. `npm install` fills it (its postinstall,
// scripts/warm-cache.js, starts the gateway once); else the first start does.
//
// In the package's own node_modules/.cache (where build tools keep theirs), not in the OS temp folder,
// Node's default: that one is emptied at every reboot, and is new in every container started from an
// image, so each of those starts was a first start. Where that folder cannot be made or written (an
// install owned by another user), the OS temp folder, as before. NODE_COMPILE_CACHE, when set, is the
// user's choice and wins; NODE_DISABLE_COMPILE_CACHE=1 turns the cache off (Node's own rules).
// Plain JavaScript: it runs before the first TypeScript module loads.
import { accessSync, constants, mkdirSync } from 'node:fs';
import module from 'node:module';
import { fileURLToPath } from 'node:url';

export const localCacheDir = fileURLToPath(new URL('../node_modules/.cache/llmux/compile', import.meta.url));

/** Can this process make `dir` and write in it? (Node makes the folder but, given one it cannot write, saves nothing and says nothing.) */
function writable(dir) {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Turn the cache on; answers what Node answered (undefined on a Node without the cache). */
export function enableCompileCache(env = process.env, enable = module.enableCompileCache, dir = localCacheDir, canWrite = writable) {
  if (typeof enable !== 'function') return undefined;
  if (env.NODE_COMPILE_CACHE || env.NODE_DISABLE_COMPILE_CACHE || !canWrite(dir)) return enable();
  const r = enable(dir);
  return r?.status === module.constants?.compileCacheStatus?.FAILED ? enable() : r;
}
