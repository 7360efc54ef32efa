import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startFakeUpstream } from '../../test/fakes/fake-upstream.ts';

/** The official SDK is the strictest ordinary client: if it accepts the fake, so will users. */
test('the official SDK reads chat, streams, embeddings, models and errors from the fake', { timeout: 5000 }, async () => {
  const up = await startFakeUpstream({ apiKey: 'sk-fake', name: 'sdk' });
  const client = new OpenAI({ apiKey: 'sk-fake', baseURL: up.baseUrl, maxRetries: 0, timeout: 4000 });
  try {
    const chat = await client.chat.completions.create({ model: 'mock-small', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(chat.choices[0]?.message.content, 'Hello from mock');

    const stream = await client.chat.completions.create({
      model: 'mock-small', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true },
    });
    let text = '';
    let usage: unknown = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    assert.equal(text, 'Hello from mock');
    assert.ok(usage);

    const emb = await client.embeddings.create({ model: 'e', input: ['a', 'b'] });
    assert.equal(emb.data.length, 2);
    assert.equal(emb.data[0]?.embedding.length, 8);

    const models = await client.models.list();
    assert.deepEqual(models.data.map((m) => m.id), ['mock-small', 'mock-large']);

    up.enqueue({ status: 429, error: { message: 'slow' }, headers: { 'retry-after': '1' } });
    await assert.rejects(
      client.chat.completions.create({ model: 'mock-small', messages: [] }),
      (e: any) => e.status === 429 && e.code === 'rate_limit_exceeded' && /^req_mock-/.test(e.requestID),
    );

    up.enqueue({ errorAfterEvents: 2 });
    const broken = await client.chat.completions.create({ model: 'mock-small', messages: [], stream: true });
    await assert.rejects(async () => {
      for await (const _ of broken) { /* drain */ }
    }, /server had an error/);
  } finally {
    await up.close();
  }
});
