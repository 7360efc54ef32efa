/**
 * A forced upstream stream answered to a caller that did not ask for one: read every event and
 * assemble one `chat.completion` (or `text_completion`). Nothing reaches the client until the stream
 * ended with `[DONE]`, so every failure can still fail over.
 */
import { classifyInBand, readUpstreamError } from '../dialects/openai/errors.ts';
import { StreamAssembler } from '../dialects/openai/assemble.ts';
import { renameReasoning } from '../dialects/openai/quirks.ts';
import { SseScanner, eventData, isDone, readUsage } from '../dialects/openai/sse.ts';
import { classifyThrown, fail, maxResponseBytes, upstreamMessage, type AttemptFailure, type CheckedBody } from './attempt.ts';
import type { Abortable, RequestContext } from './context.ts';
import type { UpstreamStream } from '../upstream/client.ts';
import type { Endpoint } from './planner.ts';

export function collectStream(ctx: RequestContext, ep: Endpoint, body: UpstreamStream, attemptSignal: Abortable): Promise<CheckedBody | AttemptFailure> {
  return new Promise((resolve) => {
    const scanner = new SseScanner();
    const asm = new StreamAssembler();
    let sawDone = false;
    let failure: AttemptFailure | null = null;
    let size = 0;
    const data = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > maxResponseBytes) failure ??= fail('transient', 200, 'the upstream stream was too large');
      scanner.push(chunk, (b, s, e, text) => {
        if (failure || sawDone) return;
        if (isDone(text, s, e)) {
          sawDone = true;
          return;
        }
        const { data, name } = eventData(b, s, e, text);
        if (data === null) return;
        try {
          const obj = JSON.parse(data) as Record<string, unknown>;
          if (name === 'error' || obj.error) {
            const info = readUpstreamError(obj);
            failure = fail(classifyInBand(info), 200, `the upstream sent an error event: ${upstreamMessage(info.message, ep.provider)}`);
          } else asm.add(obj);
        } catch {
          failure = fail('transient', 200, 'the upstream sent an event that is not JSON');
        }
      });
      // Stopped here: the sink hears nothing more, so the failure is settled now.
      if (failure) {
        body.destroy();
        resolve(failure);
      }
    };
    const error = (e: unknown): void => resolve(failure ?? classifyThrown(e, ctx, attemptSignal));
    const end = (): void => {
      if (failure) return resolve(failure);
      if (!sawDone) return resolve(fail('transient', 200, 'the upstream stream ended without [DONE]'));
      const parsed = asm.result();
      if (!Array.isArray(parsed.choices) || parsed.choices.length === 0) return resolve(fail('transient', 200, 'the upstream stream carried no choices'));
      if (ep.provider.reasoningField) renameReasoning(parsed, ep.provider.reasoningField);
      resolve({ type: 'ok', usage: readUsage(parsed.usage), parsed, rewritten: JSON.stringify(parsed) });
    };
    body.start({ data, end, error });
  });
}
