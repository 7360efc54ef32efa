/**
 * Events through `diagnostics_channel`. Anyone may publish; only observe/ subscribes. Publishing to a
 * channel without subscribers costs one boolean check (`hasSubscribers`).
 */
import diagnostics from 'node:diagnostics_channel';
import type { FailureClass } from './failure.ts';

export interface AttemptEndEvent {
  /** The gateway instance (several can run in one process, e.g. in tests); subscribers filter on it. */
  instance: string;
  requestId: string;
  endpointId: string;
  provider: string;
  model: string;
  /** 1-based position of this attempt within the request. */
  n: number;
  status: number | null;
  cls: FailureClass | null;
  latencyMs: number;
  message: string | null;
}

export interface RequestEndEvent {
  instance: string;
  requestId: string;
  at: number;
  principal: string | null;
  kind: 'chat' | 'completions' | 'embeddings';
  route: string | null;
  model: string;
  upstreamModel: string | null;
  provider: string | null;
  endpointId: string | null;
  status: number;
  cls: FailureClass | null;
  attempts: number;
  latencyMs: number;
  ttftMs: number | null;
  promptTokens: number;
  completionTokens: number;
  stream: boolean;
  repaired: boolean;
  error: string | null;
  /** Request and assembled response bodies, only while debug capture is on. */
  capture?: { request: unknown; response: unknown; attempts: AttemptEndEvent[] };
}

export const channels = {
  attemptEnd: diagnostics.channel('llmux:attempt:end'),
  requestEnd: diagnostics.channel('llmux:request:end'),
  breakerChange: diagnostics.channel('llmux:breaker:change'),
  configReload: diagnostics.channel('llmux:config:reload'),
} as const;
