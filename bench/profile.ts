/**
 * Self time per function from a V8 `.cpuprofile` (the JSON that `node --cpu-prof` writes):
 * each sample's time delta is charged to the node it landed on, then summed per
 * functionName + url, so the same function reached through different stacks counts once.
 * `(idle)` is left out; percentages are of the CPU time sampled.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileRow {
  functionName: string;
  where: string;
  selfMs: number;
  pct: number;
}

function shortUrl(url: string, root: string): string {
  if (!url) return '(native/V8)';
  const path = url.startsWith('file://') ? new URL(url).pathname : url;
  const rel = path.startsWith(root) ? relative(root, path) : path;
  return rel.replace(/^.*node_modules\//, 'node_modules/');
}

/** The top `n` functions by self time in one profile file. */
export function topSelfTime(file: string, root: string, n = 15): ProfileRow[] {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const node of prof.nodes) byId.set(node.id, node);
  const samples = prof.samples ?? [];
  const deltas = prof.timeDeltas ?? [];
  const self = new Map<string, ProfileRow>();
  let totalUs = 0;
  for (let i = 0; i < samples.length; i++) {
    // timeDeltas[i + 1] is the time until the next sample: the time spent where sample i landed.
    const us = Math.max(0, deltas[i + 1] ?? 0);
    const node = byId.get(samples[i] ?? -1);
    // Idle is time the process waited, not CPU it spent.
    if (!node || node.callFrame.functionName === '(idle)') continue;
    totalUs += us;
    const { functionName, url, lineNumber } = node.callFrame;
    const key = `${functionName}\u0000${url}`;
    const row = self.get(key) ?? { functionName, where: url ? `${shortUrl(url, root)}:${lineNumber + 1}` : shortUrl(url, root), selfMs: 0, pct: 0 };
    row.selfMs += us / 1000;
    self.set(key, row);
  }
  const rows = [...self.values()].sort((a, b) => b.selfMs - a.selfMs).slice(0, n);
  for (const r of rows) r.pct = totalUs ? (r.selfMs * 1000 * 100) / totalUs : 0;
  return rows;
}

/** The newest `.cpuprofile` in `dir` written after `sinceMs`, if any. */
export function newestProfile(dir: string, sinceMs: number): string | undefined {
  let best: { path: string; mtime: number } | undefined;
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return undefined;
  }
  for (const name of names) {
    if (!name.endsWith('.cpuprofile')) continue;
    const path = join(dir, name);
    const mtime = statSync(path).mtimeMs;
    if (mtime >= sinceMs && (!best || mtime > best.mtime)) best = { path, mtime };
  }
  return best?.path;
}

export function printProfile(rows: ProfileRow[]): string {
  const lines = ['  self ms   self %  function  (where)'];
  for (const r of rows) lines.push(`${r.selfMs.toFixed(1).padStart(9)} ${r.pct.toFixed(1).padStart(7)}%  ${r.functionName || '(anonymous)'}  (${r.where})`);
  return lines.join('\n');
}
