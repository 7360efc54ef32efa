/**
 * Client authentication (SPEC §2, §7): `Authorization: Bearer <key>` or `x-api-key`. Keys are
 * compared by SHA-256 digest lookup (constant time with respect to the key), never stored or logged.
 * With no client keys, the admin key guards /v1 too (Catfish); with neither, /v1 is open — which
 * start-up allows only on loopback.
 */
import { hashKey, sameDigest } from '../core/digest.ts';
import { LlmuxError } from '../core/errors.ts';
import { boundedMemo } from '../core/memo.ts';
import type { ClientPrincipal, Snapshot } from '../config/compile.ts';

/** Looks up keys made through the admin API or `llmux keys create` (in the store). */
export type StoredKeyLookup = (hash: string) => ClientPrincipal | undefined;

/** The key in an Authorization header (`Bearer <key>`, or the bare key), or null. */
function keyFromAuthorization(auth: string): string | null {
  const m = /^\s*bearer\s+(\S+)\s*$/i.exec(auth);
  if (m) return m[1]!;
  // api-together accepted the raw key without the scheme; so do we.
  if (!/\s/.test(auth.trim())) return auth.trim();
  return null;
}

export const adminPrincipal: ClientPrincipal = Object.freeze({
  id: 'admin', name: 'admin', hash: '', prefix: 'admin', limits: undefined, models: undefined, budgetTokens: undefined, expiresAt: undefined, source: 'file' as const,
});


/**
 * Digests of recently presented keys: a busy client sends the same key on every request, and hashing
 * it each time was 1 % of the gateway's CPU. Bounded; only digests of presented keys are held.
 */
const recentMax = 1024;
const digestOf = boundedMemo(hashKey, recentMax);

/**
 * Digests by the Authorization header as sent: a client sends the same header on every request, and
 * reading the key out of it (a regular expression and a substring) cost about 0.25 µs a request.
 * Only headers that hold a key, and of a sane length, are kept; bounded like `digestOf`.
 */
const byHeader = new Map<string, string>();
const byHeaderMaxLength = 512;

/** The headers a client key can come in (`IncomingHttpHeaders` is one). */
export interface ClientKeyHeaders {
  readonly authorization?: string | undefined;
  readonly 'x-api-key'?: string | string[] | undefined;
}

/**
 * The digest of the presented key: the Authorization header's (`Bearer <key>`, or the bare key), else
 * x-api-key's; null when the request presents none.
 */
function presentedDigest(headers: ClientKeyHeaders): string | null {
  const auth = headers.authorization;
  if (typeof auth === 'string' && auth !== '') {
    const keep = auth.length <= byHeaderMaxLength;
    const known = keep ? byHeader.get(auth) : undefined;
    if (known !== undefined) return known;
    const k = keyFromAuthorization(auth);
    if (k !== null) {
      const h = digestOf(k);
      if (keep) {
        if (byHeader.size >= recentMax) byHeader.clear();
        byHeader.set(auth, h);
      }
      return h;
    }
  }
  const x = headers['x-api-key'];
  return typeof x === 'string' && x.trim() !== '' ? digestOf(x.trim()) : null;
}


/** Is /v1 open (no client keys anywhere, no admin key)? */
export function isOpen(snap: Snapshot, storedKeys: number): boolean {
  return snap.clientKeys.size === 0 && storedKeys === 0 && snap.adminKeyHash === null;
}

/**
 * The principal for a request, or null when /v1 is open. Throws 401 in the OpenAI shape otherwise.
 */
export function authenticate(headers: ClientKeyHeaders, snap: Snapshot, stored: StoredKeyLookup, storedCount: number, now: number): ClientPrincipal | null {
  if (isOpen(snap, storedCount)) return null;
  const h = presentedDigest(headers);
  if (h === null) {
    throw new LlmuxError('LLMUX_ERR_AUTH_MISSING', 'Missing API key: send "Authorization: Bearer <your llmux key>" (or an x-api-key header).', { headers: { 'www-authenticate': 'Bearer' } });
  }
  const p = snap.clientKeys.get(h) ?? stored(h);
  if (p) {
    if (p.expiresAt !== undefined && p.expiresAt <= now) throw new LlmuxError('LLMUX_ERR_KEY_EXPIRED', 'This API key has expired; ask the gateway admin for a new one.');
    return p;
  }
  if (snap.adminKeyHash !== null && snap.clientKeys.size === 0 && storedCount === 0 && sameDigest(h, snap.adminKeyHash)) return adminPrincipal;
  throw new LlmuxError('LLMUX_ERR_AUTH_INVALID', 'Invalid API key: it is not one of this gateway\'s client keys.', { headers: { 'www-authenticate': 'Bearer' } });
}

/** May this principal call this route? (`models` on a client key lists allowed routes.) */
export function modelAllowed(p: ClientPrincipal | null, model: string): boolean {
  return !p?.models || p.models.length === 0 || p.models.includes(model) || p.models.includes('*');
}

export function checkModelAllowed(p: ClientPrincipal | null, model: string): void {
  if (modelAllowed(p, model)) return;
  throw new LlmuxError('LLMUX_ERR_MODEL_FORBIDDEN', `This API key may not use the model "${model}"; allowed: ${(p?.models ?? []).join(', ')}.`, { param: 'model' });
}
