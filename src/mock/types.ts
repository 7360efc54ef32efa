/**
 * Contracts of the scriptable fake OpenAI-compatible upstream. One engine serves the test suite
 * (scripts enqueued per test) and `llmux mock` (options only).
 */

/** Server-wide behaviour. Every field is optional; `undefined` means the default in brackets. */
export interface MockOptions {
  /** Interface to bind [127.0.0.1]. */
  host?: string;
  /** Port to bind; 0 picks a free one [0]. */
  port?: number;
  /** Models listed by GET /v1/models and accepted with `strictModels` [mock-small, mock-large]. */
  models?: string[];
  /** Delay before response headers, added to a script's `delayMs` [0]. */
  latencyMs?: number;
  /** Probability (0..1) that an unscripted request is answered with `failStatus` [0]. */
  failRate?: number;
  /** Status used by `failRate` [500]. */
  failStatus?: number;
  /** Answer every unscripted request with this status and an OpenAI error body. */
  status?: number;
  /** Pace of streamed events, one generated word ≈ one token; 0 = as fast as possible [0]. */
  tokensPerS?: number;
  /** Admitted requests per sliding minute; above it: 429 + `retry-after` + `retry-after-ms`. */
  rateLimitRpm?: number;
  /** When set, `Authorization: Bearer <apiKey>` is required (401 otherwise). */
  apiKey?: string;
  /** Tells upstreams apart: `x-mock-name` header and `system_fingerprint`. */
  name?: string;
  /** Unknown model in a request body → 404 `model_not_found` [false]. */
  strictModels?: boolean;
  /** Seed for `failRate` draws, so a flaky upstream fails the same way every run [Math.random]. */
  seed?: number;
  /** Called once per finished exchange with a one-line summary (the CLI prints it). */
  log?: (line: string) => void;
}

/** An OpenAI error object; missing fields get defaults that match the status. */
export interface MockError {
  message?: string;
  type?: string;
  code?: string | null;
  param?: string | null;
}

/**
 * One scripted reply. All fields optional and combinable; an empty script is the default
 * behaviour. Precedence when several apply: hang > reset > close > body > error/status ≥ 400 >
 * generated reply (stream or JSON).
 */
export interface Script {
  /** Response status. With no `error` and a status ≥ 400, a generic error body is generated. */
  status?: number;
  /** Extra response headers (override generated ones, e.g. `content-type`). */
  headers?: Record<string, string>;
  /** Response body sent as is (object → JSON); overrides every generated body. */
  body?: string | object;
  /**
   * Response body sent as these raw pieces (bytes or text), each its own write, `eventDelayMs`
   * [3] apart, with an SSE content type unless `headers` say otherwise: framing at any byte.
   */
  chunks?: Array<string | Buffer>;
  /** OpenAI error body; status defaults to 500 when `status` is not given. */
  error?: MockError;
  /** Delay before headers, on top of the server's `latencyMs`. */
  delayMs?: number;
  /** Never send headers; the exchange ends only when the client goes away (or close()). */
  hang?: boolean;
  /** Send a TCP RST before any headers: the client sees ECONNRESET. */
  reset?: boolean;
  /** Close the socket cleanly (FIN) with no response at all. */
  close?: boolean;
  /** Content of the generated reply ['Hello from mock']. */
  text?: string;
  /** finish_reason of the generated reply ['stop', or 'length' when max_tokens truncates]. */
  finishReason?: string;
  /** Usage overrides; the rest is estimated from the request and the reply. */
  usage?: { prompt_tokens?: number; completion_tokens?: number };
  /** Non-stream chat/completions: `choices: []`. */
  emptyChoices?: boolean;

  /** Answer with SSE even if the request did not ask for `stream: true`. */
  sse?: boolean;
  /**
   * Explicit SSE data payloads (implies SSE). Objects are JSON-encoded; the string '[DONE]' is
   * the terminator; a string starting with ':' is a comment line; other strings are sent raw.
   */
  events?: (object | string)[];
  /** Delay between events (overrides `tokensPerS` pacing). */
  eventDelayMs?: number;
  /** Delay between headers and the first event. */
  firstEventDelayMs?: number;
  /** Send a TCP RST after this many events (0 = right after the headers). */
  resetAfterEvents?: number;
  /** Stop sending after this many events but keep the socket open. */
  stallAfterEvents?: number;
  /** End the stream cleanly without `data: [DONE]`. */
  noDone?: boolean;
  /** Status 200, and the first event is `data: {"error": …}` (then [DONE]). */
  errorFirst?: MockError;
  /** After this many events, a `data: {"error": …}` event (then [DONE]). */
  errorAfterEvents?: number;
  /** The error object used by `errorAfterEvents` [a server_error]. */
  streamError?: MockError;
  /** Write each event in two TCP writes split mid-event (mid-JSON, even mid-UTF-8 sequence). */
  splitEvents?: boolean;
  /** Use CRLF line endings in the SSE framing. */
  crlf?: boolean;
}

/** What the fake saw, in arrival order. Mutated in place as the exchange progresses. */
export interface ReceivedRequest {
  method: string;
  /** Path including any query string, as sent. */
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON, or the raw string when the body is not valid JSON (or empty). */
  body: any;
  raw: string;
  /** True when the client went away before the response finished (not when the fake cut it). */
  aborted: boolean;
  /** Arrival time, ms since the epoch. */
  at: number;
  /** Status sent, once headers went out; undefined while pending or when none was sent. */
  status?: number;
}
