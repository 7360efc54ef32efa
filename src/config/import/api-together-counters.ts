/**
 * api-together's persisted RPD counters (`src/data/rateLimitData.json`, seed-formats §2.3): a JS
 * Map dumped as `[[id, {rpm, rpd, lastMinute, lastDay}], …]`, where `lastDay` is only the local
 * day-of-month. A count is carried over only when that day is today, so an API that used its
 * daily quota this morning does not get a fresh one after the switch. RPM buckets are per
 * calendar minute and stale by the time anyone imports, so they are not carried.
 */
import path from 'node:path';
import type { DayCounter } from './result.ts';
import { isFile, isRecord, num, readOptionalJson } from './read-source.ts';

/** Relative to the folder of apis.json: the repository layout first, then flatter copies. */
const counterFiles = ['../data/rateLimitData.json', 'data/rateLimitData.json', 'rateLimitData.json'];

export interface CarriedCounters {
  counters?: Record<string, DayCounter>;
  notes: string[];
}

/** Local `YYYYMMDD` of a date (api-together counted days in the machine's local time). */
export function localDay(d: Date): string {
  return `${d.getFullYear()}${String(d.getMonth() + 1).padStart(2, '0')}${String(d.getDate()).padStart(2, '0')}`;
}

function entriesOf(raw: unknown): Array<[string, unknown]> {
  if (Array.isArray(raw)) {
    return raw.filter((e): e is [unknown, unknown] => Array.isArray(e) && e.length >= 2).map(([k, v]) => [String(k), v]);
  }
  return isRecord(raw) ? Object.entries(raw) : [];
}

async function findCounterFile(apisJson: string): Promise<string | null> {
  for (const rel of counterFiles) {
    const p = path.resolve(path.dirname(apisJson), rel);
    if (await isFile(p)) return p;
  }
  return null;
}

/**
 * Today's RPD counts by llmux provider id. `idMap` maps api-together ids to imported provider ids;
 * counters of APIs that were not imported are dropped with a note.
 */
export async function countersOfToday(apisJson: string, idMap: ReadonlyMap<string, string>, now: Date): Promise<CarriedCounters> {
  const file = await findCounterFile(apisJson);
  if (!file) return { notes: [] };
  const raw = await readOptionalJson(file);
  const notes: string[] = [];
  const counters: Record<string, DayCounter> = {};
  const today = now.getDate();
  const day = localDay(now);
  for (const [apiId, c] of entriesOf(raw)) {
    if (!isRecord(c)) continue;
    const rpd = num(c.rpd) ?? 0;
    const id = idMap.get(apiId);
    if (rpd <= 0) continue;
    if (!id) notes.push(`rateLimitData.json: counter of "${apiId}" dropped, no such provider was imported`);
    else if (num(c.lastDay) !== today) notes.push(`rateLimitData.json: ${id} counted ${rpd} requests on day ${String(c.lastDay)}, not today (${today}): not carried, its day has reset`);
    else counters[id] = { rpd, day };
  }
  if (raw === undefined) notes.push(`${file}: unreadable, RPD counters not carried`);
  return Object.keys(counters).length > 0 ? { counters, notes } : { notes };
}
