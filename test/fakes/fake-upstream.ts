/**
 * Test-facing entry to the fake OpenAI-compatible upstream (engine: src/mock/server.ts).
 * Integration tests start one per simulated provider on port 0 and script it per test.
 */
import { MockUpstream } from '../../src/mock/server.ts';
import type { MockOptions } from '../../src/mock/server.ts';

export { MockUpstream } from '../../src/mock/server.ts';
export type { MockError, MockOptions, ReceivedRequest, Script } from '../../src/mock/server.ts';

/** The fake as tests see it. */
export type FakeUpstream = MockUpstream;

/** Starts a fake upstream on 127.0.0.1, port 0 unless given. */
export async function startFakeUpstream(opts: MockOptions = {}): Promise<FakeUpstream> {
  const up = new MockUpstream(opts);
  await up.start();
  return up;
}

/** Starts several (e.g. healthy, flaky, rate-limited); close them with `closeAll`. */
export function startFakeUpstreams(list: MockOptions[]): Promise<FakeUpstream[]> {
  return Promise.all(list.map((o) => startFakeUpstream(o)));
}

export async function closeAll(ups: FakeUpstream[]): Promise<void> {
  await Promise.all(ups.map((u) => u.close()));
}

/**
 * The `data` payloads of an SSE body, in order: splits on blank lines (LF or CRLF), skips comment
 * lines, joins multi-line data with '\n'. '[DONE]' is kept as the string '[DONE]'.
 */
export function parseSse(text: string): string[] {
  const out: string[] = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    const data = block
      .split(/\r?\n/)
      .filter((line) => line.startsWith('data:'))
      .map((line) => line.slice(5).replace(/^ /, ''));
    if (data.length > 0) out.push(data.join('\n'));
  }
  return out;
}

/** The JSON payloads of an SSE body, without the [DONE] terminator. */
export function parseSseJson(text: string): any[] {
  return parseSse(text).filter((d) => d !== '[DONE]').map((d) => JSON.parse(d));
}
