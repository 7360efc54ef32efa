/**
 * Base URL rules shared by the importers and free-api-dir discovery. llmux calls
 * `baseUrl + "/chat/completions"` and appends `/v1` to a host-only URL (SPEC §3); the old tools
 * each had their own convention (seed-formats §6), so every importer says what it changed.
 */

export interface CleanUrl {
  /** The URL without trailing slashes or an endpoint path; null when it is not an http(s) URL. */
  url: string | null;
  /** A `/chat/completions`-style suffix that was cut off (users sometimes paste the full URL). */
  cutSuffix: string | null;
}

const endpointSuffix = /\/(chat\/completions|completions)\/*$/i;

/** Trim whitespace, trailing slashes and a pasted endpoint path. */
export function cleanBaseUrl(raw: string): CleanUrl {
  let url = raw.trim();
  let cutSuffix: string | null = null;
  const m = endpointSuffix.exec(url);
  if (m) {
    cutSuffix = `/${m[1]}`;
    url = url.slice(0, m.index);
  }
  url = url.replace(/\/+$/, '');
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return { url: null, cutSuffix };
  } catch {
    return { url: null, cutSuffix };
  }
  return { url, cutSuffix };
}

/** True when the URL has no path beyond `/`. */
export function isHostOnly(url: string): boolean {
  const p = new URL(url).pathname;
  return p === '' || p === '/';
}

/** True when the last path segment is an API version (`v1`, `v4`, `v1beta`). */
export function endsWithVersion(url: string): boolean {
  const last = new URL(url).pathname.split('/').filter(Boolean).pop() ?? '';
  return /^v\d+[a-z0-9]*$/i.test(last);
}

/** `host` for display and id derivation: `api.example.com`, `127.0.0.1:8000`. */
export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '';
  }
}

/**
 * A readable id stem from a URL's host: `api.example.com` → `example`, `backup.example.com` →
 * `backup-example`, `127.0.0.1:8000` → `127-0-0-1-8000`. Used where the old tool had no names.
 */
export function idStemFromUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return '';
  }
  const host = u.hostname;
  if (/^[\d.]+$/.test(host) || host === 'localhost' || host.includes(':')) {
    return [host, u.port].filter(Boolean).join('-');
  }
  const labels = host.split('.').filter((l) => l !== 'www' && l !== 'api');
  if (labels.length > 1) labels.pop();
  return labels.join('-');
}
