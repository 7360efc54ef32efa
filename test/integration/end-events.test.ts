/**
 * End-of-request events go out in batches (core/events.ts `publishSoon`), yet a client that reads
 * its answer must find the request's end event and log line already published — also when the
 * answer was written from a timer (server deadline, attempt timeout, idle timeout after commit),
 * which an in-process client can read before the batch's `setImmediate` runs.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { channels, type RequestEndEvent } from '../../src/core/events.ts';
import { startFakeUpstream, type FakeUpstream } from '../fakes/fake-upstream.ts';
import { post, providerFor, startTestGateway } from '../fakes/gateway.ts';

const msgs = [{ role: 'user', content: 'hi' }];
const bounded = { timeout: 30_000 };
let up: FakeUpstream;

before(async () => {
  up = await startFakeUpstream({ name: 'a' });
});
after(async () => {
  await up.close();
});

interface Case {
  name: string;
  config: Record<string, unknown>;
  timeout: Record<string, number>;
  script: Record<string, unknown>;
  stream: boolean;
  status: number;
}

const cases: Case[] = [
  { name: 'a 200 answered while handling I/O', config: {}, timeout: {}, script: {}, stream: false, status: 200 },
  { name: 'a 504 from the server deadline (a timer)', config: { server: { deadlineMs: 150 } }, timeout: { firstByteMs: 10_000, totalMs: 20_000 }, script: { hang: true }, stream: false, status: 504 },
  { name: 'a 504 from the attempt\'s first-byte timeout (a timer)', config: {}, timeout: { firstByteMs: 150, totalMs: 20_000 }, script: { hang: true }, stream: false, status: 504 },
  { name: 'a stream cut by the idle timeout after commit (a timer)', config: {}, timeout: { firstByteMs: 5_000, idleMs: 150, totalMs: 20_000 }, script: { text: 'one two three four', stallAfterEvents: 2 }, stream: true, status: 200 },
];

for (const c of cases) {
  test(`${c.name}: the end event and the log line are out when the client has read the answer`, bounded, async () => {
    const gw = await startTestGateway({ ...c.config, providers: [providerFor('a', up.baseUrl, { timeout: c.timeout, breaker: { failures: 1000 } })] });
    const seen = new Set<string>();
    const onEnd = (m: unknown): void => void seen.add((m as RequestEndEvent).requestId);
    channels.requestEnd.subscribe(onEnd);
    try {
      for (let i = 0; i < 3; i++) {
        up.enqueue(c.script);
        const r = await post(`${gw.url}/v1/chat/completions`, { model: 'mock-small', stream: c.stream, messages: msgs });
        assert.equal(r.status, c.status, r.text);
        const id = r.headers.get('x-llmux-request-id') ?? '';
        // Checked synchronously after the read: no turn of the event loop in between.
        assert.ok(seen.has(id), `end event of ${id} published before the client read the answer`);
        assert.ok(gw.logs.some((l) => l.includes(id)), `log line of ${id} written before the client read the answer`);
      }
    } finally {
      channels.requestEnd.unsubscribe(onEnd);
      await gw.close();
    }
  });
}
