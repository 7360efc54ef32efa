/**
 * Health probes of endpoints (`llmux check`, `healthCheck`): `GET /models` or a 1-token chat. A probe
 * is bounded by its own timeout so a dead upstream never holds anything up for long.
 */
import type { CompiledProvider } from '../config/compile.ts';
import { quirkHeaders } from '../dialects/openai/quirks.ts';
import { classifyStatus, readUpstreamError } from '../dialects/openai/errors.ts';
import type { FailureClass } from '../core/failure.ts';
import type { UpstreamClients } from '../upstream/client.ts';
import { networkErrorCode, networkErrorKind } from '../upstream/client.ts';
import { mergeHeaders, upstreamMessage } from './attempt.ts';

export interface ProbeResult {
  ok: boolean;
  status: number | null;
  latencyMs: number;
  cls: FailureClass | null;
  error: string | null;
  /** Model ids from GET /models, when that was the probe. */
  models?: string[];
  /** The raw entries of GET /models (for pricing-based discovery). */
  entries?: unknown[];
}

export interface ProbeTarget {
  provider: CompiledProvider;
  key: string | null;
  model: string;
}

/** The model a probe of a provider uses: its first listed model, else its first mapped one, else none. */
export function probeModel(p: CompiledProvider): string {
  return p.models[0] ?? Object.values(p.modelMap)[0] ?? '';
}

export async function probe(clients: UpstreamClients, t: ProbeTarget, mode: 'models' | 'chat', timeoutMs: number): Promise<ProbeResult> {
  const t0 = performance.now();
  const signal = AbortSignal.timeout(timeoutMs);
  const headers = mergeHeaders(quirkHeaders(t.provider), { 'user-agent': 'llmux/0.1' }, t.provider.headers, { accept: 'application/json', 'accept-encoding': 'identity' });
  if (t.key !== null) headers.authorization = `Bearer ${t.key}`;
  const chat = mode === 'chat';
  if (chat) headers['content-type'] = 'application/json';
  try {
    const call = clients.call({
      provider: t.provider, method: chat ? 'POST' : 'GET', path: chat ? '/chat/completions' : '/models', headers, signal,
      body: chat ? JSON.stringify({ model: t.model, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 1 }) : undefined,
      headersTimeoutMs: timeoutMs, bodyTimeoutMs: timeoutMs, maxBodyBytes: 8 * 1024 * 1024,
    });
    const res = await call.answer;
    // A probe asks for JSON: a 2xx event stream is not read (and fails below as "not JSON").
    res.stream?.destroy();
    const buf = res.body ?? Buffer.alloc(0);
    const latencyMs = performance.now() - t0;
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(buf.toString('utf8'));
    } catch {
      /* handled below */
    }
    if (res.statusCode >= 400) {
      const info = readUpstreamError(parsed);
      return { ok: false, status: res.statusCode, latencyMs, cls: classifyStatus(res.statusCode, info), error: `HTTP ${res.statusCode}: ${upstreamMessage(info.message, t.provider).slice(0, 120)}` };
    }
    if (parsed === null) return { ok: false, status: res.statusCode, latencyMs, cls: 'transient', error: 'answer is not JSON' };
    const data = (parsed as { data?: unknown }).data;
    const models = Array.isArray(data) ? data.map((m) => (m as { id?: unknown }).id).filter((id): id is string => typeof id === 'string') : undefined;
    return { ok: true, status: res.statusCode, latencyMs, cls: null, error: null, models, entries: Array.isArray(data) ? data : undefined };
  } catch (e) {
    const latencyMs = performance.now() - t0;
    const kind = signal.aborted ? 'timeout' : networkErrorKind(e);
    const cls: FailureClass = kind === 'connect' ? 'connect' : kind === 'timeout' ? 'timeout' : 'transient';
    return { ok: false, status: null, latencyMs, cls, error: signal.aborted ? `no answer within ${timeoutMs} ms` : `network error (${networkErrorCode(e)})` };
  }
}
