/**
 * Client key material. A key is `llmux-` + 32 base64url characters (192 random bits). The store keeps
 * only `hashKey(key)` and a display prefix; authentication hashes the presented key and looks the
 * hash up, so no secret is ever compared byte by byte (no timing side channel to speak of).
 */
import { randomBytes } from 'node:crypto';

const KEY_PREFIX = 'llmux-';
/** Characters of the random part shown in lists: 8 × 6 bits, enough to tell keys apart. */
const DISPLAY_CHARS = 8;

/** SHA-256 of the key, hex: the same digest the gateway looks presented keys up by. */
export { hashKey } from '../core/digest.ts';

/** A fresh random key and its display prefix. */
export function generateKey(): { key: string; prefix: string } {
  const key = KEY_PREFIX + randomBytes(24).toString('base64url');
  return { key, prefix: displayPrefix(key) };
}

/** The non-secret beginning of a key, as listed and accepted by `revokeKey`. */
export function displayPrefix(key: string): string {
  const start = key.startsWith(KEY_PREFIX) ? KEY_PREFIX.length : 0;
  return key.slice(0, start + DISPLAY_CHARS);
}
