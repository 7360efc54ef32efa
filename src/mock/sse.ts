import type { Exchange } from './exchange.ts';
import { chatChunks, errorBody, planReply, streamErrorBody, textChunks } from './bodies.ts';
import type { ReplyMeta } from './bodies.ts';
import type { Script } from './types.ts';

/** One SSE payload: an object (JSON), '[DONE]', a ':' comment, or a raw data string. */
export type SsePayload = object | string;

/** Pause between the two halves of a split event, so the client reads them separately. */
const SPLIT_PAUSE_MS = 3;

/**
 * The payloads of a streamed reply, in order. Explicit `events` are used as given; otherwise the
 * generated chunks for the endpoint plus [DONE]. `errorFirst` / `errorAfterEvents` replace the
 * tail with an in-band error then [DONE], as the real API does; `noDone` drops every [DONE].
 */
export function planEvents(kind: 'chat' | 'completions', script: Script, body: any, meta: ReplyMeta): SsePayload[] {
  let events: SsePayload[];
  if (script.events) {
    events = [...script.events];
  } else {
    const plan = planReply(script, body);
    const includeUsage = body?.stream_options?.include_usage === true;
    events = kind === 'chat' ? chatChunks(meta, plan, includeUsage) : textChunks(meta, plan, includeUsage);
    events.push('[DONE]');
  }
  if (script.errorFirst) {
    events = [errorBody(500, script.errorFirst), '[DONE]'];
  } else if (script.errorAfterEvents !== undefined) {
    events = [...events.slice(0, script.errorAfterEvents), streamErrorBody(script.streamError), '[DONE]'];
  }
  if (script.noDone) events = events.filter((e) => e !== '[DONE]');
  return events;
}

/** SSE framing of one payload. */
export function encodeEvent(payload: SsePayload, crlf: boolean): string {
  const eol = crlf ? '\r\n' : '\n';
  if (typeof payload === 'string') {
    if (payload.startsWith(':')) return `${payload}${eol}${eol}`;
    return `data: ${payload}${eol}${eol}`;
  }
  return `data: ${JSON.stringify(payload)}${eol}${eol}`;
}

/** Timing and fault knobs of one stream, resolved from the script and server options. */
export interface StreamShape {
  status: number;
  headers: Record<string, string>;
  intervalMs: number;
}

/**
 * Sends headers at once, then the events with the script's pacing and faults. Resolves when the
 * stream ended, stalled, was cut, or the client went away.
 */
export async function writeStream(ex: Exchange, events: SsePayload[], script: Script, shape: StreamShape): Promise<void> {
  ex.res.writeHead(shape.status, shape.headers);
  // Headers go out before the first event so "200 then stall/reset" faults look real.
  ex.res.flushHeaders();
  await ex.sleep(script.firstEventDelayMs ?? 0);
  for (let i = 0; i <= events.length; i++) {
    if (ex.closed) return;
    if (script.resetAfterEvents === i) return ex.cut('reset');
    if (script.stallAfterEvents === i) return; // the socket stays open until the client leaves
    const payload = events[i];
    if (payload === undefined) break;
    if (i > 0) await ex.sleep(shape.intervalMs);
    if (ex.closed) return;
    await writeOne(ex, encodeEvent(payload, script.crlf === true), script.splitEvents === true);
  }
  if (!ex.closed) ex.res.end();
}

async function writeOne(ex: Exchange, frame: string, split: boolean): Promise<void> {
  if (!split) return ex.write(frame);
  // Split by bytes, not characters: a cut inside a multi-byte sequence tests streaming decoders.
  const bytes = Buffer.from(frame);
  const mid = Math.max(1, Math.floor(bytes.length / 2));
  await ex.write(bytes.subarray(0, mid));
  await ex.sleep(SPLIT_PAUSE_MS);
  await ex.write(bytes.subarray(mid));
}
