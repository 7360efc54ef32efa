/**
 * The state contract against memory and Redis (LLMUX_TEST_REDIS, a unique key prefix per state).
 * Redis-only behaviour (several instances, outages) is in redis.test.ts.
 */
import { MemoryState } from '../../src/state/memory.ts';
import { openState } from '../../src/state/open.ts';
import { requireService, uniqueName } from './backends.ts';
import { stateSuite } from './state.suite.ts';

stateSuite({ name: 'memory', open: async () => new MemoryState() });

const redisUrl = requireService('LLMUX_TEST_REDIS', 'redis state');
if (redisUrl) {
  stateSuite({ name: 'redis', open: () => openState(redisUrl, { prefix: `${uniqueName('llmux')}:` }) });
}
