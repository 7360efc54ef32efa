/**
 * Provider quirks as data: what a provider type adds to requests and changes in responses. The only
 * place besides config/presets.ts where provider names appear.
 */
import type { CompiledProvider } from '../../config/compile.ts';

/** Extra request headers for a provider (attribution etc.), merged under the provider's own. */
export function quirkHeaders(p: CompiledProvider): Record<string, string> {
  if (!p.quirks.includes('openrouter') && p.type !== 'openrouter') return {};
  return {
    'http-referer': p.attribution?.referer ?? 'https://github.com/llmux/llmux',
    'x-title': p.attribution?.title ?? 'llmux',
  };
}

/** Body fields a provider always gets (under the provider's forced `params`). */
export function quirkParams(p: CompiledProvider): Record<string, unknown> | null {
  if (p.reasoning === 'include') return { include_reasoning: true };
  if (p.reasoning === 'exclude') return { include_reasoning: false };
  return null;
}

/**
 * Rename `reasoning` to the configured field in a parsed response or chunk (FailProxy's
 * `reasoning_content`). Mutates and returns true when something changed.
 */
export function renameReasoning(obj: Record<string, unknown>, field: string): boolean {
  const choices = obj.choices;
  if (!Array.isArray(choices)) return false;
  let changed = false;
  for (const c of choices as Array<Record<string, unknown>>) {
    for (const holder of [c.message, c.delta] as Array<Record<string, unknown> | undefined>) {
      if (holder && typeof holder === 'object' && 'reasoning' in holder && field !== 'reasoning') {
        holder[field] = holder.reasoning;
        delete holder.reasoning;
        changed = true;
      }
    }
  }
  return changed;
}

/**
 * Is a `GET /models` entry free to call? OpenRouter lists `pricing: {prompt: "0", completion: "0"}`
 * and marks free variants with a `:free` suffix (`models: free` discovery, SPEC §10).
 */
export function isFreeModel(entry: unknown): boolean {
  if (typeof entry !== 'object' || entry === null) return false;
  const e = entry as { id?: unknown; pricing?: { prompt?: unknown; completion?: unknown; request?: unknown } };
  if (typeof e.id !== 'string') return false;
  const p = e.pricing;
  if (p) {
    const zero = (v: unknown): boolean => v === undefined || v === null || Number(v) === 0;
    return zero(p.prompt) && zero(p.completion) && zero(p.request);
  }
  return e.id.endsWith(':free');
}
