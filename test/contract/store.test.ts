/**
 * The store contract against every adapter: SQLite (a temp file), Postgres (LLMUX_TEST_PG, a schema
 * per store, dropped at the end) and memory.
 */
import { after } from 'node:test';
import { logsSuite } from './logs.suite.ts';
import { storeAdapters } from './store-adapters.ts';
import { storeSuite } from './store.suite.ts';

for (const adapter of storeAdapters()) {
  storeSuite(adapter);
  logsSuite(adapter);
  after(() => adapter.cleanup());
}
