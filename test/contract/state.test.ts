/**
 * The state contract against memory and Redis (LLMUX_TEST_REDIS, a unique key prefix per state).
 * Redis-only behaviour (several instances, outages) is in redis.test.ts.
 */
import { after } from 'node:test';
import { MemoryState } from '../../src/state/memory.ts';
import { openState } from '../../src/state/open.ts';
import { requireService, uniqueName } from './backends.ts';
import { deleteKeys } from './redis-cleanup.ts';
import { stateSuite } from './state.suite.ts';

stateSuite({ name: 'memory', open: async () => new MemoryState() });

const redisUrl = requireService('LLMUX_TEST_REDIS', 'redis state');
if (redisUrl) {
  const prefixes: string[] = [];
  stateSuite({
    name: 'redis',
    open: () => {
      const prefix = `${uniqueName('llmux')}:`;
      prefixes.push(prefix);
      return openState(redisUrl, { prefix });
    },
  });
  after(() => deleteKeys(redisUrl, prefixes));
}
