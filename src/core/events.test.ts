import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { setImmediate as immediate } from 'node:timers/promises';
import { test } from 'node:test';
import { flushEvents, publishSoon } from './events.ts';

test('publishSoon delivers in one batch after the current turn, in order, across channels', async () => {
  const a = diagnostics.channel('llmux:test:soon-a');
  const b = diagnostics.channel('llmux:test:soon-b');
  const seen: string[] = [];
  const onA = (m: unknown): void => void seen.push(`a${(m as { n: number }).n}`);
  const onB = (m: unknown): void => void seen.push(`b${(m as { n: number }).n}`);
  a.subscribe(onA);
  b.subscribe(onB);
  try {
    publishSoon(a, { n: 1 });
    publishSoon(a, { n: 2 });
    publishSoon(b, { n: 3 });
    assert.deepEqual(seen, [], 'nothing is published synchronously');
    await Promise.resolve();
    assert.deepEqual(seen, [], 'nor in a microtask');
    await immediate();
    assert.deepEqual(seen, ['a1', 'a2', 'b3'], 'queued order, across channels');
    publishSoon(b, { n: 4 });
    await immediate();
    assert.deepEqual(seen, ['a1', 'a2', 'b3', 'b4'], 'a later turn gets its own batch');
  } finally {
    a.unsubscribe(onA);
    b.unsubscribe(onB);
  }
});

test('flushEvents publishes what is queued at once; a channel without subscribers queues nothing', async () => {
  const a = diagnostics.channel('llmux:test:flush-a');
  const quiet = diagnostics.channel('llmux:test:flush-quiet');
  const seen: number[] = [];
  const onA = (m: unknown): void => {
    const n = (m as { n: number }).n;
    seen.push(n);
    // An event queued by a subscriber during the flush goes out in the same flush.
    if (n === 1) publishSoon(a, { n: 2 });
  };
  const late: number[] = [];
  const onQuiet = (m: unknown): void => void late.push((m as { n: number }).n);
  a.subscribe(onA);
  try {
    publishSoon(quiet, { n: 0 });
    // Subscribed after the event was offered: a channel without subscribers kept nothing to deliver.
    quiet.subscribe(onQuiet);
    publishSoon(a, { n: 1 });
    flushEvents();
    assert.deepEqual(seen, [1, 2]);
    assert.deepEqual(late, []);
    await immediate();
    assert.deepEqual(seen, [1, 2], 'the scheduled flush finds nothing left');
  } finally {
    a.unsubscribe(onA);
    quiet.unsubscribe(onQuiet);
  }
});

test('flushEvents called by a subscriber during a flush delivers each event once, in order', () => {
  const a = diagnostics.channel('llmux:test:reentrant');
  const seen: number[] = [];
  const onA = (m: unknown): void => {
    const n = (m as { n: number }).n;
    seen.push(n);
    flushEvents();
    if (n === 2) publishSoon(a, { n: 4 });
  };
  a.subscribe(onA);
  try {
    publishSoon(a, { n: 1 });
    publishSoon(a, { n: 2 });
    publishSoon(a, { n: 3 });
    flushEvents();
    assert.deepEqual(seen, [1, 2, 3, 4]);
  } finally {
    a.unsubscribe(onA);
  }
});
