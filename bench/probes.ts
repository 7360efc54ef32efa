/**
 * The probes around the load runs: byte-identical bodies, time to first byte, inter-chunk timing
 * and memory with many open streams. Every probe is bounded in count and time and closes what it
 * opened.
 */
import { median } from './load.ts';
import { newAgent, openStream, post } from './client.ts';
import type { Target } from './client.ts';
import { rssBytes } from './proc.ts';

export interface Named extends Target {
  name: string;
  /** PID of the proxy process (none for direct). */
  pid?: number | undefined;
}

export type Mode = 'json' | 'stream';

export interface BodyCheck {
  target: string;
  mode: Mode;
  ok: boolean;
  status: number;
  bytes: number;
  /** Empty when identical, else where and how the bytes differ. */
  detail: string;
  /** Response headers this target adds compared with the direct answer. */
  addedHeaders: string[];
}

function diffSummary(want: Buffer, got: Buffer): string {
  let i = 0;
  while (i < want.length && i < got.length && want[i] === got[i]) i++;
  const ctx = (b: Buffer): string => JSON.stringify(b.subarray(Math.max(0, i - 40), i + 60).toString('utf8'));
  return `length ${got.length} vs direct ${want.length}; first difference at byte ${i}: got ${ctx(got)} want ${ctx(want)}`;
}

/** Fetches each body through every target and compares it with the direct answer, byte for byte. */
export async function checkBodies(targets: Named[], bodies: Record<Mode, string>): Promise<BodyCheck[]> {
  const agent = newAgent(false);
  const out: BodyCheck[] = [];
  for (const mode of ['json', 'stream'] as const) {
    let want: Buffer | undefined;
    let wantHeaders: string[] = [];
    for (const t of targets) {
      try {
        const ex = await post(t, bodies[mode], agent);
        want ??= ex.body;
        if (t.name === 'direct') wantHeaders = Object.keys(ex.headers);
        const same = ex.status === 200 && ex.body.equals(want);
        const detail = same ? '' : ex.status !== 200 ? `status ${ex.status}: ${ex.body.subarray(0, 300).toString('utf8')}` : diffSummary(want, ex.body);
        const added = ex.status === 200 ? Object.keys(ex.headers).filter((h) => !wantHeaders.includes(h)) : [];
        out.push({ target: t.name, mode, ok: same, status: ex.status, bytes: ex.body.length, detail, addedHeaders: added });
      } catch (err) {
        out.push({ target: t.name, mode, ok: false, status: 0, bytes: 0, detail: `request failed: ${(err as Error).message}`, addedHeaders: [] });
      }
    }
  }
  agent.destroy();
  return out;
}

export interface TtfbResult {
  target: string;
  n: number;
  /** Median ms to the first body byte, and to the response headers. */
  firstByteMs: number;
  headersMs: number;
  errors: number;
}

/** Sequential streams whose upstream waits 200 ms before the first chunk, one keep-alive socket. */
export async function measureTtfb(t: Named, body: string, n: number): Promise<TtfbResult> {
  const agent = newAgent(true);
  const first: number[] = [];
  const heads: number[] = [];
  let errors = 0;
  for (let i = 0; i < n; i++) {
    try {
      const ex = await post(t, body, agent, 5000);
      if (ex.status !== 200) errors++;
      else {
        first.push(ex.firstByteMs);
        heads.push(ex.headersMs);
      }
    } catch {
      errors++;
    }
  }
  agent.destroy();
  return { target: t.name, n, firstByteMs: median(first), headersMs: median(heads), errors };
}

export interface GapResult {
  target: string;
  n: number;
  events: number;
  /** Gaps in ms between consecutive SSE events after the first content event. */
  meanGapMs: number;
  minGapMs: number;
  maxGapMs: number;
  errors: number;
  /** llmux only: request-log prunes its log reports as finished during this probe (rows deleted, ms into the probe). */
  prunes?: { rows: number; atMs: number }[];
  /** llmux only: why the probe did or did not line up with llmux's periodic prune. */
  pruneNote?: string;
  /** llmux only: its event loop and garbage collector while the probe ran (from its /metrics). */
  runtime?: RuntimeWindow;
}

/** What a proxy's /metrics says about its event loop and GC between two scrapes. */
export interface RuntimeWindow {
  /** The event loop's longest delay (`nodejs_eventloop_lag_max_seconds`), ms. */
  loopMaxMs: number;
  /** GC pauses by kind: how many, how many over 10 ms, and the bucket bound of the longest (ms; null past the last bound). */
  gc: { kind: string; count: number; over10ms: number; longestLeMs: number | null }[];
}

export interface RuntimeScrape {
  loopMaxS: number;
  /** kind → bucket bound (s, as written) → cumulative count */
  gc: Map<string, Map<string, number>>;
}

/** Scrape `/metrics` of the proxy at `t`; null when it has none (the bare proxy) or it fails. */
export async function scrapeRuntime(t: Target): Promise<RuntimeScrape | null> {
  try {
    const res = await fetch(new URL('/metrics', t.url), { signal: AbortSignal.timeout(5000) });
    return res.ok ? parseRuntime(await res.text()) : null;
  } catch {
    return null;
  }
}

/** The event-loop and GC lines of a Prometheus text scrape (runtime-metrics.ts writes them); null without them. */
export function parseRuntime(text: string): RuntimeScrape | null {
  const loop = /^nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(text);
  if (!loop) return null;
  const gc = new Map<string, Map<string, number>>();
  for (const m of text.matchAll(/^nodejs_gc_duration_seconds_bucket\{le="([^"]+)",kind="([^"]+)"\} (\S+)$/gm)) {
    const [, le, kind, n] = m as unknown as [string, string, string, string];
    let k = gc.get(kind);
    if (!k) gc.set(kind, (k = new Map()));
    k.set(le, Number(n));
  }
  return { loopMaxS: Number(loop[1]), gc };
}

/** The window between two scrapes (the second's longest loop delay is the window's: each scrape starts a new one). */
export function runtimeWindow(before: RuntimeScrape, after: RuntimeScrape): RuntimeWindow {
  const gc: RuntimeWindow['gc'] = [];
  for (const [kind, buckets] of after.gc) {
    let was = before.gc.get(kind);
    // Counts lower than before: the process (or its metrics) started again; all it has is the window's.
    if (was && [...buckets].some(([le, n]) => n < (was?.get(le) ?? 0))) was = undefined;
    const delta = (le: string): number => (buckets.get(le) ?? 0) - (was?.get(le) ?? 0);
    const count = delta('+Inf');
    if (count <= 0) continue;
    const bounds = [...buckets.keys()].filter((le) => le !== '+Inf').sort((a, b) => Number(a) - Number(b));
    // The longest pause is at most the first bound whose cumulative count holds every pause.
    const le = bounds.find((b) => delta(b) >= count);
    const tenMs = bounds.find((b) => Number(b) === 0.01);
    gc.push({ kind, count, over10ms: tenMs === undefined ? NaN : count - delta(tenMs), longestLeMs: le === undefined ? null : Number(le) * 1000 });
  }
  return { loopMaxMs: after.loopMaxS * 1000, gc };
}

/** Streams whose upstream writes one event every 50 ms: how far apart do they arrive? */
export async function measureGaps(t: Named, body: string, n: number): Promise<GapResult> {
  const agent = newAgent(true);
  const gaps: number[] = [];
  let errors = 0;
  let events = 0;
  for (let i = 0; i < n; i++) {
    try {
      const ex = await post(t, body, agent, 5000);
      if (ex.status !== 200) errors++;
      events = ex.eventMs.length;
      // Event 0 is the role chunk, which a gateway may hold until the first content (its commit).
      for (let k = 2; k < ex.eventMs.length; k++) gaps.push((ex.eventMs[k] ?? 0) - (ex.eventMs[k - 1] ?? 0));
    } catch {
      errors++;
    }
  }
  agent.destroy();
  const mean = gaps.length ? gaps.reduce((a, b) => a + b, 0) / gaps.length : NaN;
  return { target: t.name, n, events, meanGapMs: mean, minGapMs: Math.min(...gaps), maxGapMs: Math.max(...gaps), errors };
}

export interface HoldResult {
  target: string;
  wanted: number;
  opened: number;
  failures: Record<string, number>;
  openSeconds: number;
  rssBeforeMiB: number;
  rssOpenMiB: number;
  rssAfterCloseMiB: number;
  /** Slow streams the upstream still serves 1.5 s after the clients closed theirs. */
  upstreamStillOpen: number;
}

const MiB = 2 ** 20;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Opens `n` slow streams through `t` (in batches), samples its RSS while all are open, closes them. */
async function openAtUpstream(statsUrl: string): Promise<number> {
  try {
    const res = await fetch(statsUrl, { signal: AbortSignal.timeout(2000) });
    return ((await res.json()) as { openSlowStreams: number }).openSlowStreams;
  } catch {
    return NaN;
  }
}

export async function holdStreams(t: Named, body: string, n: number, settleMs: number, statsUrl: string): Promise<HoldResult> {
  const pid = t.pid ?? 0;
  const agent = newAgent(false);
  const rssBefore = rssBytes(pid);
  const failures: Record<string, number> = {};
  const streams: ReturnType<typeof openStream>[] = [];
  const t0 = performance.now();
  let opened = 0;
  for (let i = 0; i < n; i += 250) {
    const batch = Array.from({ length: Math.min(250, n - i) }, () => openStream(t, body, agent, 20_000));
    streams.push(...batch);
    for (const r of await Promise.allSettled(batch.map((s) => s.started))) {
      const why = r.status === 'rejected' ? String((r.reason as Error).message) : r.value === 200 ? '' : `status ${r.value}`;
      if (why) failures[why] = (failures[why] ?? 0) + 1;
      else opened++;
    }
  }
  const openSeconds = (performance.now() - t0) / 1000;
  await sleep(settleMs);
  const rssOpen = rssBytes(pid);
  for (const s of streams) s.req.destroy();
  agent.destroy();
  await sleep(1500);
  const upstreamStillOpen = await openAtUpstream(statsUrl);
  return { target: t.name, wanted: n, opened, failures, openSeconds, rssBeforeMiB: rssBefore / MiB, rssOpenMiB: rssOpen / MiB, rssAfterCloseMiB: rssBytes(pid) / MiB, upstreamStillOpen };
}
