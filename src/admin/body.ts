/**
 * Request bodies inside the admin plugin: JSON only (`application/json`), at most 1 MB, parsed
 * strictly (no repair: an admin edit must mean exactly what was typed) with the dialect's shape check
 * (depth ≤ 64, no `__proto__`/`constructor` keys). Any other content type gets 415, which also keeps
 * a cross-site "simple" POST (text/plain, form data) from reaching a handler.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parseJsonBody } from '../dialects/openai/validate.ts';
import { badRequest } from './errors.ts';

const adminBodyLimit = 1024 * 1024;

export function installJsonParser(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: adminBodyLimit }, (_req, text, done) => {
    const s = typeof text === 'string' ? text : text.toString('utf8');
    if (s.trim() === '') {
      done(null, undefined);
      return;
    }
    try {
      done(null, parseJsonBody(s, false).body);
    } catch (e) {
      done(e as Error, undefined);
    }
  });
}

/** The parsed JSON object, `{}` when there was no body. */
export function bodyOf(req: FastifyRequest): Record<string, unknown> {
  const b = req.body;
  if (b === undefined || b === null) return {};
  if (typeof b !== 'object' || Array.isArray(b)) throw badRequest('The request body must be a JSON object.');
  return b as Record<string, unknown>;
}
