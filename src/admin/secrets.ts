/**
 * Provider secrets in the admin API: keys, secret-looking header values and proxy passwords are
 * masked on the way out (`sk-…abcd`, `http://user:***@host`), and a masked value sent back unchanged
 * on the way in means "keep the stored one". `scrubText` is the last line of defence: every admin
 * response passes through it, so a full key cannot leave even if a handler forgot to mask.
 */
import { maskKey } from '../config/compile.ts';
import { badRequest } from './errors.ts';

type Body = Record<string, unknown>;

const sensitiveHeader = /authorization|api[-_]?key|token|secret|cookie|password|passwd|signature|session|credential/i;

export function isSensitiveHeader(name: string): boolean {
  return sensitiveHeader.test(name);
}

/** A value that is one of our masks rather than a real secret. */
export function looksMasked(v: string): boolean {
  return v.includes('…') || v.includes('***');
}

/** A proxy URL with its credentials hidden: `http://user:***@host` or `http://***@host`. */
export function maskProxy(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^@/]*)@/i, (_m, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    return colon >= 0 ? `${scheme}${userinfo.slice(0, colon)}:***@` : `${scheme}***@`;
  });
}

function keyList(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  return Array.isArray(v) ? v.filter((k): k is string => typeof k === 'string') : [];
}

/** A copy of a provider body with every secret masked. */
export function maskProvider(body: Body): Body {
  const out: Body = { ...body };
  if (typeof body.keys === 'string') out.keys = maskKey(body.keys);
  else if (Array.isArray(body.keys)) out.keys = body.keys.map((k) => (typeof k === 'string' ? maskKey(k) : k));
  if (body.headers && typeof body.headers === 'object') {
    out.headers = Object.fromEntries(
      Object.entries(body.headers as Record<string, unknown>).map(([n, v]) => [n, typeof v === 'string' && isSensitiveHeader(n) ? maskKey(v) : v]),
    );
  }
  if (typeof body.proxy === 'string') out.proxy = maskProxy(body.proxy);
  return out;
}

/** Every secret of a provider body, for `scrubText`. */
export function secretsOf(body: Body): string[] {
  const out = keyList(body.keys);
  if (body.headers && typeof body.headers === 'object') {
    for (const [n, v] of Object.entries(body.headers as Record<string, unknown>)) if (typeof v === 'string' && isSensitiveHeader(n)) out.push(v);
  }
  if (typeof body.proxy === 'string') {
    const m = /^[a-z][a-z0-9+.-]*:\/\/([^@/]*)@/i.exec(body.proxy);
    const userinfo = m?.[1] ?? '';
    const pw = userinfo.includes(':') ? userinfo.slice(userinfo.indexOf(':') + 1) : userinfo;
    if (pw) out.push(pw, decodeURIComponentSafe(pw));
  }
  return out;
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * Replace masked values in `incoming` by the stored ones from `existing` (in place). With `allow`
 * false (the base URL is changing) a masked value is refused: the stored secret would go to a new
 * address without anyone having typed it for that address.
 */
export function restoreSecrets(incoming: Body, existing: Body | null, allow: boolean, refusal: string): void {
  const stored = keyList(existing?.keys);
  const fix = (k: string, i: number, param: string): string => {
    if (!looksMasked(k)) return k;
    if (!allow) throw badRequest(`${param}: ${refusal}`, param);
    const same = stored[i];
    const match = same !== undefined && maskKey(same) === k ? same : stored.find((s) => maskKey(s) === k);
    if (match === undefined) throw badRequest(`${param}: "${k}" is a masked key that matches none of the stored keys of this provider; send the full key.`, param);
    return match;
  };
  if (typeof incoming.keys === 'string') incoming.keys = fix(incoming.keys, 0, 'keys');
  else if (Array.isArray(incoming.keys)) incoming.keys = incoming.keys.map((k, i) => (typeof k === 'string' ? fix(k, i, `keys[${i}]`) : k));

  if (incoming.headers && typeof incoming.headers === 'object') {
    const old = (existing?.headers ?? {}) as Record<string, unknown>;
    const headers: Record<string, unknown> = { ...(incoming.headers as Record<string, unknown>) };
    for (const [n, v] of Object.entries(headers)) {
      if (typeof v !== 'string' || !isSensitiveHeader(n) || !looksMasked(v)) continue;
      const param = `headers.${n}`;
      if (!allow) throw badRequest(`${param}: ${refusal}`, param);
      const prev = Object.entries(old).find(([on, ov]) => on.toLowerCase() === n.toLowerCase() && typeof ov === 'string' && maskKey(ov) === v);
      if (!prev) throw badRequest(`${param}: "${v}" is a masked value that matches no stored header; send the full value.`, param);
      headers[n] = prev[1];
    }
    incoming.headers = headers;
  }

  if (typeof incoming.proxy === 'string' && looksMasked(incoming.proxy)) {
    const prev = typeof existing?.proxy === 'string' ? existing.proxy : null;
    if (prev === null || maskProxy(prev) !== incoming.proxy) throw badRequest('proxy: a masked proxy URL that matches no stored one; send the full URL.', 'proxy');
    incoming.proxy = prev;
  }
}

/**
 * Replace every occurrence of a secret in a serialized response by its mask. Secrets shorter than
 * 8 characters are skipped: they would mangle ordinary text, and are too short to be real keys.
 */
export function scrubText(text: string, secrets: Iterable<string>): string {
  let out = text;
  for (const s of secrets) {
    if (s.length < 8) continue;
    const mask = maskKey(s);
    if (out.includes(s)) out = out.split(s).join(mask);
    const escaped = JSON.stringify(s).slice(1, -1);
    if (escaped !== s && out.includes(escaped)) out = out.split(escaped).join(mask);
  }
  return out;
}
