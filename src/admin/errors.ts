/**
 * Errors of the admin plugin. Everything goes out through http/errors.ts `sendError` in the OpenAI
 * shape; this file only builds the `LlmuxError`s. Two statuses the core catalogue does not have yet
 * (403 "admin key not set", 409 "read-only / exists") are made by `AdminError`, a subclass that
 * overrides status, type and code, so `isLlmuxError` and `sendError` treat it like any other.
 * TODO(core): add LLMUX_ERR_FORBIDDEN / LLMUX_ERR_CONFLICT to core/errors.ts and drop the subclass.
 */
import type { z } from 'zod';
import { LlmuxError } from '../core/errors.ts';
import { formatPath } from '../config/schema.ts';

export class AdminError extends LlmuxError {
  constructor(status: 403 | 409, type: string, code: string, message: string) {
    super('LLMUX_ERR_INVALID_REQUEST', message);
    // LlmuxError's fields are plain (writable) own properties; readonly is a compile-time promise.
    const self = this as { status: number; type: string; apiCode: string };
    self.status = status;
    self.type = type;
    self.apiCode = code;
  }
}

export function badRequest(message: string, param: string | null = null): LlmuxError {
  return new LlmuxError('LLMUX_ERR_INVALID_REQUEST', message, { param });
}

export function notFound(message: string): LlmuxError {
  return new LlmuxError('LLMUX_ERR_NOT_FOUND', message);
}

export function conflict(message: string, code = 'conflict'): AdminError {
  return new AdminError(409, 'invalid_request_error', code, message);
}

export function forbidden(message: string, code: string): AdminError {
  return new AdminError(403, 'permission_error', code, message);
}

/**
 * A failed validation as one 400: every problem on its own line with its field path, and `param`
 * set to the path of the first (`limits.rpm`), so a client can highlight the field.
 */
export function fromZod(error: z.ZodError, prefix: readonly PropertyKey[] = []): LlmuxError {
  const lines = error.issues.map((i) => `${formatPath([...prefix, ...i.path])}: ${i.message}`);
  const first = error.issues[0];
  const param = first ? formatPath([...prefix, ...first.path]) : null;
  return badRequest(`Invalid request: ${lines.join('; ')}`, param);
}
