/**
 * The one error catalogue. Every error llmux itself raises has a stable `LLMUX_ERR_*` code, an HTTP
 * status and the OpenAI error `type`/`code` it maps to at the edge (http/ turns it into JSON there
 * and nowhere else). Messages say what went wrong and how to fix it; they never contain a key.
 */
export interface ErrorSpec {
  readonly status: number;
  readonly type: string;
  readonly code: string;
}

export const catalogue = {
  LLMUX_ERR_INVALID_JSON: { status: 400, type: 'invalid_request_error', code: 'invalid_json' },
  LLMUX_ERR_INVALID_REQUEST: { status: 400, type: 'invalid_request_error', code: 'invalid_request' },
  LLMUX_ERR_BAD_HEADER: { status: 400, type: 'invalid_request_error', code: 'invalid_header' },
  LLMUX_ERR_BODY_TOO_LARGE: { status: 413, type: 'invalid_request_error', code: 'request_too_large' },
  LLMUX_ERR_UNSUPPORTED_MEDIA: { status: 415, type: 'invalid_request_error', code: 'unsupported_media_type' },
  LLMUX_ERR_AUTH_MISSING: { status: 401, type: 'authentication_error', code: 'invalid_api_key' },
  LLMUX_ERR_AUTH_INVALID: { status: 401, type: 'authentication_error', code: 'invalid_api_key' },
  LLMUX_ERR_KEY_EXPIRED: { status: 401, type: 'authentication_error', code: 'key_expired' },
  LLMUX_ERR_MODEL_FORBIDDEN: { status: 403, type: 'permission_error', code: 'model_not_allowed' },
  LLMUX_ERR_NOT_FOUND: { status: 404, type: 'invalid_request_error', code: 'not_found' },
  LLMUX_ERR_MODEL_NOT_FOUND: { status: 404, type: 'invalid_request_error', code: 'model_not_found' },
  LLMUX_ERR_RATE_LIMITED: { status: 429, type: 'rate_limit_error', code: 'rate_limit_exceeded' },
  LLMUX_ERR_QUEUE_FULL: { status: 429, type: 'rate_limit_error', code: 'queue_full' },
  LLMUX_ERR_BUDGET_EXCEEDED: { status: 429, type: 'rate_limit_error', code: 'budget_exceeded' },
  LLMUX_ERR_NO_HEALTHY_UPSTREAM: { status: 503, type: 'server_error', code: 'no_healthy_upstream' },
  LLMUX_ERR_UPSTREAM_UNAVAILABLE: { status: 502, type: 'server_error', code: 'upstream_unavailable' },
  LLMUX_ERR_UPSTREAM_TIMEOUT: { status: 504, type: 'server_error', code: 'upstream_timeout' },
  LLMUX_ERR_BAD_UPSTREAM_RESPONSE: { status: 502, type: 'server_error', code: 'bad_upstream_response' },
  LLMUX_ERR_UPSTREAM_RATE_LIMITED: { status: 429, type: 'rate_limit_error', code: 'rate_limit_exceeded' },
  LLMUX_ERR_UPSTREAM_QUOTA: { status: 429, type: 'insufficient_quota', code: 'insufficient_quota' },
  LLMUX_ERR_UPSTREAM_AUTH: { status: 502, type: 'server_error', code: 'upstream_auth_failed' },
  LLMUX_ERR_UPSTREAM_MODEL: { status: 404, type: 'invalid_request_error', code: 'model_not_found' },
  LLMUX_ERR_DEADLINE: { status: 504, type: 'server_error', code: 'deadline_exceeded' },
  LLMUX_ERR_SHUTTING_DOWN: { status: 503, type: 'server_error', code: 'shutting_down' },
  LLMUX_ERR_CONFIG: { status: 500, type: 'server_error', code: 'config_error' },
  LLMUX_ERR_INTERNAL: { status: 500, type: 'server_error', code: 'internal_error' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof catalogue;

export interface LlmuxErrorOptions {
  /** The request field the error is about (OpenAI `param`). */
  param?: string | null;
  /** Seconds until a retry can succeed; becomes `Retry-After`. */
  retryAfterS?: number;
  /** Extra response headers (never secrets). */
  headers?: Record<string, string>;
  cause?: unknown;
}

export class LlmuxError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly type: string;
  readonly apiCode: string;
  readonly param: string | null;
  readonly retryAfterS: number | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(code: ErrorCode, message: string, opts: LlmuxErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    const spec: ErrorSpec = catalogue[code];
    this.name = 'LlmuxError';
    this.code = code;
    this.status = spec.status;
    this.type = spec.type;
    this.apiCode = spec.code;
    this.param = opts.param ?? null;
    this.retryAfterS = opts.retryAfterS;
    this.headers = opts.headers;
  }
}

export function isLlmuxError(e: unknown): e is LlmuxError {
  return e instanceof LlmuxError;
}
