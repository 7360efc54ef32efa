/**
 * The parts of prom-client the gateway uses (a registry, counters, gauges, histograms), loaded from
 * their own files rather than from the package's index. The index also loads the default metrics
 * (and through them OpenTelemetry's API), the summary's t-digest, the push gateway's HTTP clients
 * and the cluster aggregator: 88 modules where these need 8. The classes are the package's own:
 * `src/boot/lean-deps.test.ts` checks each against the index's export, so an upgrade of prom-client
 * that moves one of these files fails there. Measured: bench/HISTORY.md, twenty-fourth round.
 */
import { createRequire } from 'node:module';
import type * as prom from 'prom-client';

const require = createRequire(import.meta.url);

export const Registry = require('prom-client/lib/registry') as typeof prom.Registry;
export const Counter = require('prom-client/lib/counter') as typeof prom.Counter;
export const Gauge = require('prom-client/lib/gauge') as typeof prom.Gauge;
export const Histogram = require('prom-client/lib/histogram') as typeof prom.Histogram;
export type Registry = prom.Registry;
export type Metric = prom.Metric;
