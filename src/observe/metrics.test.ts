import assert from 'node:assert/strict';
import { test } from 'node:test';
import { channels, type AttemptEndEvent, type RequestEndEvent } from '../core/events.ts';
import { Metrics } from './metrics.ts';

const sources = { breakers: () => [{ provider: 'p', endpoint: 'p/1/m', state: 'open' }], queue: () => ({ active: 2, queued: 1 }), limiterUsage: () => [] };

function end(over: Partial<RequestEndEvent>): RequestEndEvent {
  return {
    instance: 'i1', requestId: 'r', at: 0, principal: null, kind: 'chat', route: 'chat', model: 'm', upstreamModel: 'm', provider: 'p', endpointId: 'p/1/m',
    status: 200, cls: null, attempts: 1, latencyMs: 30, ttftMs: 20, promptTokens: 3, completionTokens: 4, stream: false, repaired: false, error: null, ...over,
  };
}

test('metrics: counters and cumulative histograms from events, in the Prometheus text format; other instances ignored', async () => {
  const m = new Metrics(sources, 'i1');
  try {
    channels.requestEnd.publish(end({}));
    channels.requestEnd.publish(end({ latencyMs: 300, ttftMs: null, attempts: 3, stream: true, promptTokens: 0 }));
    channels.requestEnd.publish(end({ status: 503, provider: null, route: null, latencyMs: 70_000, ttftMs: null, promptTokens: 0, completionTokens: 0 }));
    channels.requestEnd.publish(end({ instance: 'other' }));
    const attempt = (cls: AttemptEndEvent['cls']): AttemptEndEvent => ({ instance: 'i1', requestId: 'r', endpointId: 'e', provider: 'p', model: 'm', n: 1, status: 200, cls, latencyMs: 1, message: null });
    channels.attemptEnd.publish(attempt(null));
    channels.attemptEnd.publish(attempt('timeout'));
    channels.attemptEnd.publish(attempt('timeout'));
    const text = await m.text();
    assert.match(text, /^# TYPE llmux_requests_total counter$/m);
    assert.match(text, /^llmux_requests_total\{route="chat",provider="p",status="200",stream="false"\} 1$/m);
    assert.match(text, /^llmux_requests_total\{route="chat",provider="p",status="200",stream="true"\} 1$/m);
    assert.match(text, /^llmux_requests_total\{route="none",provider="none",status="503",stream="false"\} 1$/m);
    assert.match(text, /^llmux_attempts_total\{provider="p",class="ok"\} 1$/m);
    assert.match(text, /^llmux_attempts_total\{provider="p",class="timeout"\} 2$/m);
    assert.match(text, /^llmux_failovers_total\{route="chat"\} 2$/m);
    assert.match(text, /^llmux_tokens_total\{provider="p",kind="prompt"\} 3$/m);
    assert.match(text, /^llmux_tokens_total\{provider="p",kind="completion"\} 8$/m);
    assert.match(text, /^# TYPE llmux_request_duration_seconds histogram$/m);
    // 0.03 s and 0.3 s: cumulative buckets
    assert.match(text, /^llmux_request_duration_seconds_bucket\{route="chat",le="0.025"\} 0$/m);
    assert.match(text, /^llmux_request_duration_seconds_bucket\{route="chat",le="0.1"\} 1$/m);
    assert.match(text, /^llmux_request_duration_seconds_bucket\{route="chat",le="0.5"\} 2$/m);
    assert.match(text, /^llmux_request_duration_seconds_bucket\{route="chat",le="\+Inf"\} 2$/m);
    assert.match(text, /^llmux_request_duration_seconds_sum\{route="chat"\} 0\.3(3|29)/m);
    assert.match(text, /^llmux_request_duration_seconds_count\{route="chat"\} 2$/m);
    // 70 s: past the 60 s bucket
    assert.match(text, /^llmux_request_duration_seconds_bucket\{route="none",le="60"\} 0$/m);
    assert.match(text, /^llmux_request_duration_seconds_bucket\{route="none",le="\+Inf"\} 1$/m);
    assert.match(text, /^llmux_time_to_first_token_seconds_count\{route="chat"\} 1$/m);
    assert.match(text, /^llmux_breaker_state\{provider="p",endpoint="p\/1\/m"\} 2$/m);
    assert.match(text, /^llmux_inflight_requests 2$/m);
    assert.match(text, /^llmux_queue_depth 1$/m);
    m.registry.resetMetrics();
    assert.doesNotMatch(await m.text(), /llmux_requests_total\{/);
  } finally {
    m.close();
  }
});
