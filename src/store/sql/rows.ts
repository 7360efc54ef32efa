/** Mapping between table rows and the store's records (column names are snake_case in SQL). */
import type { ClientKeyRecord, JsonValue, RequestLogRow, TokenBudget } from '../types.ts';
import type { SqlParam, SqlRow } from './driver.ts';

function str(v: unknown): string | null {
  return v === null || v === undefined ? null : String(v);
}

function num(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v);
}

function json<T>(v: unknown, fallback: T): T {
  return typeof v === 'string' ? (JSON.parse(v) as T) : fallback;
}

export function keyFromRow(r: SqlRow): ClientKeyRecord {
  return {
    id: String(r['id']),
    name: str(r['name']),
    prefix: String(r['prefix']),
    hash: String(r['hash']),
    limits: json(r['limits'], {}),
    models: json<string[] | null>(r['models'], null),
    budgetTokens: json<TokenBudget | null>(r['budget_tokens'], null),
    expiresAt: num(r['expires_at']),
    createdAt: Number(r['created_at']),
    lastUsedAt: num(r['last_used_at']),
    revokedAt: num(r['revoked_at']),
  };
}

/** Serialise a JSON column, keeping SQL NULL for null/undefined. */
export function jsonParam(v: JsonValue | object | null | undefined): string | null {
  return v === null || v === undefined ? null : JSON.stringify(v);
}

export const logColumns = [
  'id', 'ts', 'principal', 'route', 'model', 'upstream_model', 'provider', 'endpoint', 'status',
  'failure_class', 'attempts', 'latency_ms', 'ttft_ms', 'prompt_tokens', 'completion_tokens', 'stream', 'error',
] as const;

/** A row's parameters, in `logColumns` order, written into `out` from index `at` (one flat list for a multi-row insert, no array per row). */
export function logParamsInto(r: RequestLogRow, out: SqlParam[], at: number): void {
  out[at] = r.id;
  out[at + 1] = r.ts;
  out[at + 2] = r.principal;
  out[at + 3] = r.route;
  out[at + 4] = r.model;
  out[at + 5] = r.upstreamModel;
  out[at + 6] = r.provider;
  out[at + 7] = r.endpoint;
  out[at + 8] = r.status;
  out[at + 9] = r.failureClass;
  out[at + 10] = r.attempts;
  out[at + 11] = Math.round(r.latencyMs);
  out[at + 12] = r.ttftMs === null ? null : Math.round(r.ttftMs);
  out[at + 13] = r.promptTokens;
  out[at + 14] = r.completionTokens;
  out[at + 15] = r.stream ? 1 : 0;
  out[at + 16] = r.error;
}

export function logFromRow(r: SqlRow): RequestLogRow {
  return {
    id: String(r['id']),
    ts: Number(r['ts']),
    principal: str(r['principal']),
    route: str(r['route']),
    model: str(r['model']),
    upstreamModel: str(r['upstream_model']),
    provider: str(r['provider']),
    endpoint: str(r['endpoint']),
    status: Number(r['status']),
    failureClass: str(r['failure_class']),
    attempts: Number(r['attempts']),
    latencyMs: Number(r['latency_ms']),
    ttftMs: num(r['ttft_ms']),
    promptTokens: num(r['prompt_tokens']),
    completionTokens: num(r['completion_tokens']),
    stream: Number(r['stream']) === 1,
    error: str(r['error']),
  };
}
