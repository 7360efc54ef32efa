/**
 * Choose and open a state adapter by URL (SPEC §3 `state:`). Called only from main.ts / cli/.
 *
 *   memory                       one process; pair it with `StatePersister` to survive restarts
 *   redis://[:pw@]host:port[/db] shared by every instance (rediss:// for TLS)
 *
 * Opening Redis waits at most `connectTimeoutMs` for the first connection and never fails because
 * Redis is down: the state starts on its in-process fallback and switches over once connected.
 */
import { MemoryState } from './memory.ts';
import type { State } from './types.ts';
import type { RedisStateOptions } from './redis/state.ts';

/** Options of `openState`: those of the Redis adapter (the memory state uses `clock` only). */
export type OpenStateOptions = RedisStateOptions;

export async function openState(url: string, opts: OpenStateOptions = {}): Promise<State> {
  if (url === 'memory') return new MemoryState(opts.clock ? { clock: opts.clock } : {});
  if (url.startsWith('redis://') || url.startsWith('rediss://')) {
    // Loaded on demand: a single instance on memory state never loads the Redis client.
    const { openRedisState } = await import('./redis/state.ts');
    return openRedisState(url, opts);
  }
  throw new Error(`unknown state "${url.replace(/\/\/[^@/]*@/, '//***@')}": use memory or redis://host:port`);
}
