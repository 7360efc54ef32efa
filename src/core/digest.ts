/**
 * The one digest of a secret key: SHA-256, hex. Client keys are stored and looked up by it, the admin
 * key is compared by it; every place that hashes a key uses this, so the digests always agree. A fast
 * hash is fine: keys are random, not passwords.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Compare two hex digests in constant time (false when they differ in length). */
export function sameDigest(aHex: string, bHex: string): boolean {
  const a = Buffer.from(aHex, 'hex');
  const b = Buffer.from(bHex, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
