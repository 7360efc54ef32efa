/**
 * The other half of bin/llmux.js's start-up setting: the launcher keeps V8's young generation at its
 * initial size while modules load and the config compiles (bursts of short-lived allocations that
 * would otherwise grow it and keep that resident while the gateway idles). Once the gateway
 * listens, traffic may grow it again (V8's default growth factor is 2).
 */
import v8 from 'node:v8';

const marker = Symbol.for('llmux.leanStart');

export function endLeanStart(): void {
  const g = globalThis as { [marker]?: boolean };
  if (!g[marker]) return;
  g[marker] = false;
  v8.setFlagsFromString('--semi-space-growth-factor=2');
}
