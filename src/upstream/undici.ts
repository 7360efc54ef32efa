/**
 * The parts of undici the gateway uses, loaded from their own files rather than from the package's
 * index. The index loads all of undici (fetch, WebSocket, EventSource, the mock agent, the cache
 * stores: 110 modules, 1.1 MB of source); a pool, a proxy agent, the error classes and two header
 * helpers need 35 of them. The index's one other effect is made here too: it gives every
 * dispatcher the request API (`request`, `stream`, `pipeline`, `connect`, `upgrade`), and the proxy
 * agent opens its tunnels with `connect`. The classes and functions are the package's own:
 * `src/boot/lean-deps.test.ts` checks each against the index's export, and the API against the
 * index's, so an upgrade of undici that moves a file or adds another such effect fails there, not
 * in production. Measured: bench/HISTORY.md, twenty-fourth round.
 */
import { createRequire } from 'node:module';
import type * as undici from 'undici';

const require = createRequire(import.meta.url);

const Dispatcher = require('undici/lib/dispatcher/dispatcher.js') as typeof undici.Dispatcher;
Object.assign(Dispatcher.prototype, require('undici/lib/api/index.js'));

export const Pool = require('undici/lib/dispatcher/pool.js') as typeof undici.Pool;
export const ProxyAgent = require('undici/lib/dispatcher/proxy-agent.js') as typeof undici.ProxyAgent;
export const errors = require('undici/lib/core/errors.js') as typeof undici.errors;
const core = require('undici/lib/core/util.js') as typeof undici.util;
/** What the index exports as `util`. */
export const util: typeof undici.util = { parseHeaders: core.parseHeaders, headerNameToString: core.headerNameToString };
