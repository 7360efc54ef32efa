import type { MockError, Script } from './types.ts';

/** Per-response identity shared by every generated body and chunk of one reply. */
export interface ReplyMeta {
  id: string;
  created: number;
  model: string;
  fingerprint: string;
}

/** The generated reply: word chunks (one ≈ one token), finish reason and usage. */
export interface ReplyPlan {
  words: string[];
  finishReason: string;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

const DEFAULT_TEXT = 'Hello from mock';

/** Default error objects per status, shaped like the real API's (all four fields present). */
const ERROR_DEFAULTS: Record<number, Required<MockError>> = {
  400: { message: 'Invalid request.', type: 'invalid_request_error', param: null, code: null },
  401: { message: 'Incorrect API key provided.', type: 'invalid_request_error', param: null, code: 'invalid_api_key' },
  403: { message: 'You do not have access to this resource.', type: 'invalid_request_error', param: null, code: 'permission_denied' },
  404: { message: 'Not found.', type: 'invalid_request_error', param: null, code: 'not_found' },
  429: { message: 'Rate limit reached for requests.', type: 'requests', param: null, code: 'rate_limit_exceeded' },
};

/** `{"error":{message,type,param,code}}` with defaults that fit the status. */
export function errorBody(status: number, err: MockError = {}): { error: Required<MockError> } {
  const fallback = ERROR_DEFAULTS[status] ?? (status >= 500
    ? { message: 'The server had an error while processing your request.', type: 'server_error', param: null, code: null }
    : { message: `Mock error ${status}.`, type: 'invalid_request_error', param: null, code: null });
  return {
    error: {
      message: err.message ?? fallback.message,
      type: err.type ?? fallback.type,
      param: err.param ?? fallback.param,
      code: err.code === undefined ? fallback.code : err.code,
    },
  };
}

/** The in-band error the real API sends mid-stream (then [DONE]). */
export function streamErrorBody(err: MockError | undefined): { error: Required<MockError> } {
  return errorBody(500, err);
}

/** Splits text into word chunks whose concatenation is the text ("Hello ", "from ", "mock"). */
export function splitWords(text: string): string[] {
  return text.split(/(?<= )/).filter((w) => w.length > 0);
}

/** Deterministic, cheap prompt size: ~4 characters per token, at least 1. */
function estimatePromptTokens(body: any): number {
  const source = body?.messages ?? body?.prompt ?? body?.input ?? '';
  let size = 0;
  try {
    size = JSON.stringify(source)?.length ?? 0;
  } catch {
    size = 0; // a deeply nested body must not crash the fake
  }
  return Math.max(1, Math.ceil(size / 4));
}

/** Plans the generated reply: honours `max_tokens` truncation and script overrides. */
export function planReply(script: Script, body: any): ReplyPlan {
  let words = splitWords(script.text ?? DEFAULT_TEXT);
  let finishReason = script.finishReason ?? 'stop';
  const max = body?.max_completion_tokens ?? body?.max_tokens;
  if (typeof max === 'number' && max >= 0 && max < words.length) {
    words = words.slice(0, max);
    finishReason = script.finishReason ?? 'length';
  }
  const prompt = script.usage?.prompt_tokens ?? estimatePromptTokens(body);
  const completion = script.usage?.completion_tokens ?? words.length;
  return {
    words,
    finishReason,
    usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
  };
}

/** Non-stream `chat.completion`, sized and shaped like a real one (~700 bytes). */
export function chatCompletion(meta: ReplyMeta, plan: ReplyPlan, emptyChoices: boolean): object {
  const choice = {
    index: 0,
    message: { role: 'assistant', content: plan.words.join(''), refusal: null, annotations: [] },
    logprobs: null,
    finish_reason: plan.finishReason,
  };
  return {
    id: meta.id,
    object: 'chat.completion',
    created: meta.created,
    model: meta.model,
    choices: emptyChoices ? [] : [choice],
    usage: {
      ...plan.usage,
      prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
      completion_tokens_details: {
        reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0,
      },
    },
    service_tier: 'default',
    system_fingerprint: meta.fingerprint,
  };
}

/** Non-stream legacy `text_completion`. */
export function textCompletion(meta: ReplyMeta, plan: ReplyPlan, emptyChoices: boolean): object {
  const choice = { text: plan.words.join(''), index: 0, logprobs: null, finish_reason: plan.finishReason };
  return {
    id: meta.id,
    object: 'text_completion',
    created: meta.created,
    model: meta.model,
    choices: emptyChoices ? [] : [choice],
    usage: plan.usage,
    system_fingerprint: meta.fingerprint,
  };
}

/**
 * The generated SSE payloads of a chat stream, in order: role chunk, one chunk per word, a chunk
 * with finish_reason, then (include_usage) a `choices: []` usage chunk. [DONE] is added by the caller.
 */
export function chatChunks(meta: ReplyMeta, plan: ReplyPlan, includeUsage: boolean): object[] {
  const chunk = (delta: object, finish: string | null): object => ({
    id: meta.id,
    object: 'chat.completion.chunk',
    created: meta.created,
    model: meta.model,
    system_fingerprint: meta.fingerprint,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(includeUsage ? { usage: null } : {}),
  });
  const out = [chunk({ role: 'assistant', content: '' }, null)];
  for (const w of plan.words) out.push(chunk({ content: w }, null));
  out.push(chunk({}, plan.finishReason));
  if (includeUsage) out.push(usageChunk(meta, 'chat.completion.chunk', plan));
  return out;
}

/** The generated SSE payloads of a legacy completions stream. */
export function textChunks(meta: ReplyMeta, plan: ReplyPlan, includeUsage: boolean): object[] {
  const chunk = (text: string, finish: string | null): object => ({
    id: meta.id,
    object: 'text_completion',
    created: meta.created,
    model: meta.model,
    system_fingerprint: meta.fingerprint,
    choices: [{ text, index: 0, logprobs: null, finish_reason: finish }],
  });
  const out = plan.words.map((w) => chunk(w, null));
  out.push(chunk('', plan.finishReason));
  if (includeUsage) out.push(usageChunk(meta, 'text_completion', plan));
  return out;
}

function usageChunk(meta: ReplyMeta, object: string, plan: ReplyPlan): object {
  return {
    id: meta.id, object, created: meta.created, model: meta.model,
    system_fingerprint: meta.fingerprint, choices: [], usage: plan.usage,
  };
}

/** GET /v1/models list. */
export function modelList(models: string[], owner: string): object {
  return { object: 'list', data: models.map((id) => modelObject(id, owner)) };
}

export function modelObject(id: string, owner: string): object {
  return { id, object: 'model', created: 1_700_000_000, owned_by: owner };
}
