/**
 * Removes the keys a test run wrote under its prefixes (they would otherwise linger until their
 * TTLs, up to two days for day counters). Uses a plain client, around the adapter.
 */
import { Redis } from 'ioredis';

export async function deleteKeys(url: string, prefixes: readonly string[]): Promise<number> {
  if (prefixes.length === 0) return 0;
  const raw = new Redis(url, { maxRetriesPerRequest: 1 });
  let deleted = 0;
  try {
    for (const prefix of prefixes) {
      let cursor = '0';
      // Bounded: SCAN's cursor returns to 0 after one pass over the keyspace.
      do {
        const [next, keys] = await raw.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
        cursor = next;
        if (keys.length > 0) deleted += await raw.del(...keys);
      } while (cursor !== '0');
    }
  } finally {
    raw.disconnect();
  }
  return deleted;
}
