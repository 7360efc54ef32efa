/**
 * The edge: every error becomes `{"error":{"message","type","param","code"}}` here and nowhere else.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { LlmuxError, isLlmuxError, type ErrorCode } from '../core/errors.ts';
import { requestId } from '../core/request-id.ts';

function fromFastify(e: FastifyError): LlmuxError {
  const map: Record<string, ErrorCode> = {
    FST_ERR_CTP_BODY_TOO_LARGE: 'LLMUX_ERR_BODY_TOO_LARGE',
    FST_ERR_CTP_INVALID_MEDIA_TYPE: 'LLMUX_ERR_UNSUPPORTED_MEDIA',
    FST_ERR_CTP_EMPTY_JSON_BODY: 'LLMUX_ERR_INVALID_JSON',
    FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'LLMUX_ERR_INVALID_REQUEST',
  };
  const code = map[e.code];
  if (code === 'LLMUX_ERR_BODY_TOO_LARGE') return new LlmuxError(code, 'The request body is larger than server.bodyLimit allows.');
  if (code) return new LlmuxError(code, e.message);
  if (e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) return new LlmuxError('LLMUX_ERR_INVALID_REQUEST', e.message);
  return new LlmuxError('LLMUX_ERR_INTERNAL', 'llmux failed while handling this request; see the gateway log.', { cause: e });
}

export function toLlmuxError(e: unknown): LlmuxError {
  if (isLlmuxError(e)) return e;
  const fe = e as FastifyError;
  if (typeof fe?.code === 'string' && fe.code.startsWith('FST_')) return fromFastify(fe);
  if ((e as { code?: string })?.code === 'ERR_INVALID_CHAR' || (e as { code?: string })?.code === 'ERR_HTTP_INVALID_HEADER_VALUE') {
    return new LlmuxError('LLMUX_ERR_BAD_HEADER', 'A header value contains characters that are not allowed.');
  }
  return new LlmuxError('LLMUX_ERR_INTERNAL', 'llmux failed while handling this request; see the gateway log.', { cause: e });
}

function errorHeaders(id: string, err: LlmuxError): Record<string, string> {
  const h: Record<string, string> = { 'x-llmux-request-id': id };
  if (err.retryAfterS !== undefined) h['retry-after'] = String(Math.max(1, Math.ceil(err.retryAfterS)));
  if (err.headers) Object.assign(h, err.headers);
  return h;
}

function errorBody(err: LlmuxError): string {
  return JSON.stringify({ error: { message: err.message, type: err.type, param: err.param, code: err.apiCode } });
}

export function sendError(reply: FastifyReply, err: LlmuxError): void {
  void reply
    .code(err.status)
    .headers(errorHeaders(reply.request.id ?? requestId(), err))
    .type('application/json; charset=utf-8')
    .send(errorBody(err));
}

/** The same answer as `sendError`, on a response Fastify never saw (http/server.ts fast path). */
export function writeRawError(res: ServerResponse, id: string, err: LlmuxError): void {
  if (res.headersSent || res.destroyed) return;
  const body = errorBody(err);
  const h = errorHeaders(id, err);
  h['content-type'] = 'application/json; charset=utf-8';
  h['content-length'] = String(Buffer.byteLength(body));
  res.writeHead(err.status, h);
  res.end(body);
}

/** Any thrown value as the LlmuxError to answer with; llmux's own failures (5xx) are logged. */
export function reportError(log: { error(o: object, m: string): void }, e: unknown): LlmuxError {
  const err = toLlmuxError(e);
  if (err.status >= 500) log.error({ err: err.cause ?? err }, 'request failed inside llmux');
  return err;
}

export function errorHandler(log: { error(o: object, m: string): void }) {
  return (e: unknown, _req: FastifyRequest, reply: FastifyReply): void => sendError(reply, reportError(log, e));
}

/**
 * Errors node's HTTP parser raises before there is a request (bad header bytes, a header block over
 * the limit, a request timeout): answered on the raw socket, still in the OpenAI shape, then closed.
 */
export function clientErrorHandler(e: Error & { code?: string }, socket: Socket): void {
  if (e.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, message] =
    e.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'The request was not received in time.']
    : e.code === 'HPE_HEADER_OVERFLOW' ? [431, 'The request headers are larger than the gateway accepts.']
    : [400, 'The request could not be parsed: a header or the request line has bytes that HTTP does not allow.'];
  const body = JSON.stringify({ error: { message, type: 'invalid_request_error', param: null, code: status === 400 ? 'invalid_header' : status === 431 ? 'headers_too_large' : 'request_timeout' } });
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy();
}
