import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startDemo } from '../../src/cli/demo.ts';

test('demo answers 20 requests in a row without an error and shows breakers', { timeout: 60_000 }, async () => {
  const demo = await startDemo(0);
  try {
    const client = new OpenAI({ baseURL: `${demo.gateway.url}/v1`, apiKey: 'none', maxRetries: 0 });
    const providers = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const stream = i % 2 === 1;
      if (stream) {
        const s = await client.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: `hi ${i}` }], stream: true });
        let text = '';
        for await (const c of s) text += c.choices[0]?.delta.content ?? '';
        assert.ok(text.length > 0, `request ${i} streamed nothing`);
      } else {
        const { data, response } = await client.chat.completions.create({ model: 'demo', messages: [{ role: 'user', content: `hi ${i}` }] }).withResponse();
        assert.ok(data.choices[0]?.message.content, `request ${i} empty`);
        providers.add(response.headers.get('x-llmux-provider') ?? '');
      }
    }
    assert.ok(providers.size >= 2, `traffic spread over ${[...providers].join(',')}`);
    const health: any = await (await fetch(`${demo.gateway.url}/health/upstream`)).json();
    assert.equal(health.endpoints.length, 3);
    const limited = health.endpoints.find((e: any) => e.provider === 'limited');
    assert.ok(limited.failures > 0 || limited.successes > 0);
  } finally {
    await demo.close();
  }
});
