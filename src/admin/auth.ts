/**
 * Admin authentication (SPEC §7), separate from client auth: only `server.adminKey` opens /admin/*
 * and /debug*, presented as `x-admin-key: <key>` or `Authorization: Bearer <key>`. It is compared by
 * SHA-256 digest with `timingSafeEqual` (both digests are 32 bytes, so no length leaks either).
 * A client key never grants admin: it is simply not the admin key.
 *
 * With no admin key configured the admin surface is open, but only to this machine: the remote
 * address must be loopback, the request must not come through a proxy (a reverse proxy on the same
 * host would make every caller look local), the Host header must be a loopback name (a DNS-rebinding
 * page would carry its own host name) and a browser's Origin must be that same host (so a web page
 * cannot POST to the local admin API behind the user's back).
 */
import { hashKey, sameDigest } from '../core/digest.ts';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { LlmuxError } from '../core/errors.ts';
import type { AdminRuntime } from './runtime.ts';
import { forbidden } from './errors.ts';
import { addressKey, type LoginLimiter } from './login-limiter.ts';

/** Requests to a page route that came without a key: the page renders its login form instead. */
const loginNeeded = new WeakSet<FastifyRequest>();

export function needsLogin(req: FastifyRequest): boolean {
  return loginNeeded.has(req);
}

export function isLoopbackAddress(addr: string | undefined): boolean {
  if (!addr) return false;
  const a = addr.toLowerCase();
  return a === '::1' || a.startsWith('127.') || a.startsWith('::ffff:127.');
}

/** `localhost`, `127.x.x.x`, `[::1]`, with or without a port. */
export function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  const h = host.toLowerCase().replace(/:\d+$/, '');
  return h === 'localhost' || h.endsWith('.localhost') || h === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

export function presentedAdminKey(req: FastifyRequest): string | null {
  const x = req.headers['x-admin-key'];
  if (typeof x === 'string' && x.trim() !== '') return x.trim();
  const auth = req.headers.authorization;
  if (typeof auth === 'string') {
    const m = /^\s*bearer\s+(\S+)\s*$/i.exec(auth);
    if (m) return m[1]!;
  }
  return null;
}

export function adminKeyMatches(key: string, adminKeyHash: string): boolean {
  return sameDigest(hashKey(key), adminKeyHash);
}

const setKeyHint = 'set server.adminKey in the config and send it as "x-admin-key: <key>" or "Authorization: Bearer <key>"';

function checkLocalOnly(req: FastifyRequest): void {
  if (!isLoopbackAddress(req.socket.remoteAddress)) {
    throw forbidden(`No admin key is configured, so the admin API and debug views are only open to loopback (127.0.0.1, ::1). To use them from elsewhere, ${setKeyHint}.`, 'admin_key_not_set');
  }
  const h = req.headers;
  if (h['x-forwarded-for'] !== undefined || h.forwarded !== undefined || h['x-real-ip'] !== undefined) {
    throw forbidden(`This request came through a proxy, so it may not come from this machine; without an admin key the admin API is only open to direct loopback requests. To use it through a proxy, ${setKeyHint}.`, 'admin_key_not_set');
  }
  if (!isLoopbackHost(h.host)) {
    throw forbidden(`Without an admin key the admin API answers only to a loopback Host (localhost, 127.0.0.1, [::1]); got "${String(h.host ?? '').slice(0, 100)}". To use another host name, ${setKeyHint}.`, 'admin_key_not_set');
  }
  const origin = h.origin;
  if (origin !== undefined && !sameOrigin(origin, String(h.host))) {
    throw forbidden('Cross-origin requests to the admin API are refused (the Origin header names another site).', 'cross_origin');
  }
}

/** Does a browser's Origin name the host this request was sent to? (`Origin: null` never does.) */
function sameOrigin(origin: string, host: string): boolean {
  try {
    const o = new URL(origin);
    const hst = new URL(`http://${host}`);
    const oPort = o.port || (o.protocol === 'https:' ? '443' : '80');
    return o.hostname.toLowerCase() === hst.hostname.toLowerCase() && oPort === (hst.port || '80');
  } catch {
    return false;
  }
}

export interface AuthOptions {
  /** Route urls that answer a missing key with their own login page instead of 401. */
  pages: ReadonlySet<string>;
}

/** The plugin's onRequest hook. Throws the error to send; returns when the request may go on. */
export function adminAuth(rt: AdminRuntime, limiter: LoginLimiter, opts: AuthOptions) {
  return async (req: FastifyRequest, _reply: FastifyReply): Promise<void> => {
    const hash = rt.snapshot().adminKeyHash;
    if (hash === null) {
      checkLocalOnly(req);
      return;
    }
    const addr = addressKey(req.socket.remoteAddress);
    const wait = limiter.blockedFor(addr);
    if (wait > 0) {
      throw new LlmuxError('LLMUX_ERR_RATE_LIMITED', `Too many wrong admin keys from this address; try again in ${wait} s.`, { retryAfterS: wait });
    }
    const key = presentedAdminKey(req);
    if (key === null) {
      if (opts.pages.has(req.routeOptions.url ?? '')) {
        loginNeeded.add(req);
        return;
      }
      throw new LlmuxError('LLMUX_ERR_AUTH_MISSING', 'This is the admin API: send the admin key (server.adminKey) as "x-admin-key: <key>" or "Authorization: Bearer <key>".', { headers: { 'www-authenticate': 'Bearer realm="llmux-admin"' } });
    }
    if (!adminKeyMatches(key, hash)) {
      limiter.fail(addr);
      throw new LlmuxError('LLMUX_ERR_AUTH_INVALID', 'Invalid admin key: it is not server.adminKey (client keys do not open the admin API).', { headers: { 'www-authenticate': 'Bearer realm="llmux-admin"' } });
    }
  };
}
