/**
 * Enforces ARCHITECTURE.md rules 1–4 over src/: imports point down the layers; each third-party
 * library has one home; adapters are chosen only in main.ts and cli/; provider names appear only in
 * dialects/ and config/presets.ts. Prints every violation; exit 1 if any.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..', 'src');

const layerOf: Record<string, number> = {
  core: 0, config: 1, state: 1, mock: 1,
  dialects: 2, upstream: 2, health: 2, limits: 2, store: 2,
  routing: 3, http: 4, admin: 4, observe: 4, cli: 5, boot: 5, 'main.ts': 5, 'cli.ts': 5,
};

/** Same-layer imports that are allowed (rule 1). */
const sideways = new Set(['health->state', 'limits->state', 'admin->http']);

/** Library → folders allowed to import it (rule 3). */
const homes: Record<string, string[]> = {
  undici: ['upstream'],
  fastify: ['http', 'admin'],
  ioredis: ['state/redis'],
  pg: ['store'],
  'node:sqlite': ['store'],
  chokidar: ['config'],
  'prom-client': ['observe'],
  pino: ['observe'],
};

const adapters = ['state/redis', 'store/sqlite', 'store/postgres'];
const providerNames = /\b(openrouter|groq|deepseek|gemini|mistral|siliconflow|chutes|togetherai|together\.xyz|cerebras|ollama|lmstudio)(?![a-z])/i;

async function* walk(dir: string): AsyncGenerator<string> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else if (e.name.endsWith('.ts') || e.name.endsWith('.json')) yield p;
  }
}

function top(rel: string): string {
  return rel.split('/')[0]!;
}

/** Runtime imports only (`import type` brings no dependency), and `require()` calls (createRequire's loads of a library's own files). */
const importRe = /(?:^|\n)\s*(?:import|export)\s(?!type\s)[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|\brequire\(\s*['"]([^'"]+)['"]\s*\)/g;

export async function check(): Promise<string[]> {
  const problems: string[] = [];
  for await (const file of walk(root)) {
    const rel = path.relative(root, file).split(path.sep).join('/');
    const text = await readFile(file, 'utf8');
    const isTest = rel.endsWith('.test.ts');
    const inProviderHome = rel.startsWith('dialects/') || rel === 'config/presets.ts';
    if (!inProviderHome && !isTest) {
      const m = providerNames.exec(text);
      if (m) problems.push(`${rel}: names the provider "${m[1]}" (rule 4: only dialects/ and config/presets.ts may)`);
    }
    if (!file.endsWith('.ts') || isTest) continue;
    const fromTop = top(rel);
    const fromLayer = layerOf[fromTop];
    for (const m of text.matchAll(importRe)) {
      const spec = (m[1] ?? m[2] ?? m[3])!;
      if (spec.startsWith('.')) {
        const target = path.relative(root, path.resolve(path.dirname(file), spec)).split(path.sep).join('/');
        const toTop = top(target);
        const toLayer = layerOf[toTop];
        if (toTop === fromTop || fromLayer === undefined || toLayer === undefined || fromLayer === 5) continue;
        if (toLayer > fromLayer || (toLayer === fromLayer && !sideways.has(`${fromTop}->${toTop}`))) {
          problems.push(`${rel}: imports ${target} (rule 1: ${fromTop} is layer ${fromLayer}, ${toTop} is layer ${toLayer})`);
        }
        const adapter = adapters.find((a) => target.startsWith(a + '/') || target === a);
        if (adapter && !(fromTop === 'cli' || fromTop === 'main.ts' || fromTop === 'cli.ts' || rel.startsWith(adapter.split('/')[0]! + '/'))) {
          problems.push(`${rel}: imports the adapter ${target} (rule 2: only main.ts and cli/ choose adapters)`);
        }
      } else {
        const lib = spec.startsWith('node:') ? spec : spec.split('/')[0]!;
        const allowed = homes[lib];
        if (allowed && !allowed.some((h) => rel.startsWith(h + '/'))) {
          problems.push(`${rel}: imports ${lib} (rule 3: its home is ${allowed.join(', ')})`);
        }
      }
    }
  }
  return problems;
}

if (import.meta.main) {
  const problems = await check();
  if (problems.length > 0) {
    process.stderr.write(`architecture check: ${problems.length} problem(s)\n  ${problems.join('\n  ')}\n`);
    process.exit(1);
  }
  process.stdout.write('architecture check: ok\n');
}
