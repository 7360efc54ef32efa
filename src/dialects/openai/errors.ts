/**
 * Error bodies of the OpenAI dialect, and what an upstream's error response means (its failure class).
 * Pure: no I/O.
 */
import type { FailureClass } from '../../core/failure.ts';
import { maskKey } from '../../config/compile.ts';

export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export function errorBody(message: string, type: string, code: string | null, param: string | null = null): ErrorBody {
  return { error: { message, type, param, code } };
}

export interface UpstreamErrorInfo {
  message: string;
  type: string | null;
  code: string | null;
  /** A status carried inside a 200 body (`{"error":{"code":429}}`), if any. */
  innerStatus: number | null;
  /** A wait the body states ("Please try again in 20s", Google's RetryInfo `retryDelay`), in ms. */
  retryInMs: number | null;
}

const retryInText = /(?:retry|try again) (?:in|after) ((?:\d+(?:\.\d+)?(?:ms|h|m|s))+(?![a-z])|\d+(?:\.\d+)? ?seconds?\b)/i;
const durationPart = /(\d+(?:\.\d+)?) ?(ms|h|m|s)/g;

function retryIn(message: string, e: Record<string, unknown>): number | null {
  const m = retryInText.exec(message);
  if (m) {
    let ms = 0;
    for (const [, n, unit] of m[1]!.replace(/ ?seconds?/i, 's').matchAll(durationPart)) ms += Number(n) * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000);
    return Math.ceil(ms);
  }
  const details = Array.isArray(e.details) ? (e.details as Array<{ retryDelay?: unknown }>) : [];
  for (const d of details) if (typeof d?.retryDelay === 'string' && /^\d+(\.\d+)?s$/.test(d.retryDelay)) return Math.ceil(parseFloat(d.retryDelay) * 1000);
  return null;
}

/**
 * Read an upstream error body of any common shape (OpenAI, Anthropic, vLLM `{object:"error"}`, text,
 * and Gemini's OpenAI endpoint, which wraps the error object in a list).
 */
export function readUpstreamError(body: unknown, rawText = ''): UpstreamErrorInfo {
  const b: unknown = Array.isArray(body) && body.length > 0 ? body[0] : body;
  const o = (typeof b === 'object' && b !== null && !Array.isArray(b) ? b : {}) as Record<string, unknown>;
  const e = (typeof o.error === 'object' && o.error !== null ? o.error : o) as Record<string, unknown>;
  const message = typeof e.message === 'string' ? e.message : typeof o.error === 'string' ? o.error : typeof o.detail === 'string' ? o.detail : rawText.slice(0, 300);
  const rawCode = e.code ?? e.status;
  const innerStatus = typeof rawCode === 'number' ? rawCode : typeof rawCode === 'string' && /^\d{3}$/.test(rawCode) ? Number(rawCode) : null;
  return {
    message: message || 'no message',
    type: typeof e.type === 'string' ? e.type : null,
    code: typeof rawCode === 'string' ? rawCode : null,
    innerStatus,
    retryInMs: retryIn(message, e),
  };
}

const quotaHints = /insufficient_quota|quota|billing|credit|exceeded your current|daily limit|per.day|balance/i;
const rateHints = /rate.?limit|too many requests|requests per|slow down/i;
const modelHints = /model_not_found|does not exist|unknown model|no such model|model not found|not supported model|invalid model/i;
const authHints = /invalid_api_key|incorrect api key|unauthori[sz]ed|authentication|invalid.*key|permission/i;

/**
 * The failure class of an upstream error response (SPEC §5). `failoverOn` lists caller-class statuses
 * a provider really means as its own fault (some free APIs answer 400 for an outage).
 */
export function classifyStatus(status: number, info: UpstreamErrorInfo, failoverOn?: ReadonlySet<number>): FailureClass {
  const text = `${info.code ?? ''} ${info.type ?? ''} ${info.message}`;
  if (status === 429) return quotaHints.test(text) && !/per minute|rpm|tpm/i.test(text) ? 'quota' : 'rate_limit';
  if (status === 402) return 'quota';
  if (status === 401 || status === 403) return 'credential';
  if (status === 404) return 'model_unavailable';
  if (status === 408 || status === 409 || status >= 500) return 'transient';
  if (failoverOn?.has(status)) return 'transient';
  if (status === 400 && modelHints.test(text)) return 'model_unavailable';
  return 'caller';
}

/** The class of an error that arrived inside a 200 response (body or first SSE event). */
export function classifyInBand(info: UpstreamErrorInfo): FailureClass {
  const text = `${info.code ?? ''} ${info.type ?? ''} ${info.message}`;
  const s = info.innerStatus;
  if (s === 429 || rateHints.test(text)) return quotaHints.test(text) && !rateHints.test(text) ? 'quota' : 'rate_limit';
  if (quotaHints.test(text)) return 'quota';
  if (s === 401 || s === 403 || authHints.test(text)) return 'credential';
  if (s === 404 || modelHints.test(text)) return 'model_unavailable';
  // An error in a 200 is the upstream's fault, never the caller's: fail over (SPEC §5 `transient`).
  return 'transient';
}

/** The status llmux answers with when a class ends the request (failover exhausted). */
export function statusForClass(cls: FailureClass): number {
  switch (cls) {
    case 'rate_limit':
    case 'quota':
      return 429;
    case 'timeout':
      return 504;
    case 'model_unavailable':
      return 404;
    case 'credential':
    case 'connect':
    case 'transient':
      return 502;
    case 'caller':
      return 400;
    case 'canceled':
      return 499;
  }
}

const tokenPattern = /[A-Za-z0-9_\-.]{8,}/g;


/**
 * Remove credentials from text an upstream sent back (OpenAI echoes the key: "Incorrect API key
 * provided: sk-…"). Each whole key becomes its masked form (`sk-…abcd`, enough to tell which key
 * failed); any remaining run of 8+ key characters that is a piece of a key (a partly starred echo)
 * becomes `[redacted]`. Keys shorter than 8 characters are left alone: they would mangle ordinary
 * words and are not worth stealing. Fault matrix L1/L7; LiteLLM #15799.
 */
export function scrubSecrets(text: string, keys: readonly string[]): string {
  const secrets = keys.filter((k) => k.length >= 8);
  if (secrets.length === 0 || text === '') return text;
  let out = text;
  for (const k of secrets) if (out.includes(k)) out = out.split(k).join(maskKey(k));
  return out.replace(tokenPattern, (tok) => (secrets.some((k) => k.includes(tok)) ? '[redacted]' : tok));
}
