import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exactBody, InflightRequests, releaseBody, RequestController, type RequestContext } from './context.ts';

test('in-flight requests: added, removed in any order, counted; iteration is a copy that survives removals', () => {
  const list = new InflightRequests();
  const cs = Array.from({ length: 5 }, () => new RequestController());
  for (const c of cs) list.add(c);
  list.add(cs[0]!); // twice: once
  assert.equal(list.size, 5);
  list.delete(cs[2]!); // middle
  list.delete(cs[4]!); // head (the newest)
  list.delete(cs[0]!); // tail
  list.delete(cs[0]!); // again: nothing
  assert.equal(list.size, 2);
  assert.deepEqual(new Set(list), new Set([cs[1], cs[3]]));
  // Aborting ends requests, which remove themselves while the loop runs.
  const seen: RequestController[] = [];
  for (const c of list) {
    seen.push(c);
    list.delete(cs[1]!);
    list.delete(cs[3]!);
  }
  assert.equal(seen.length, 2);
  assert.equal(list.size, 0);
  assert.deepEqual([...list], []);
  // A controller in one list is not removed by another.
  const other = new InflightRequests();
  list.add(cs[1]!);
  other.delete(cs[1]!);
  assert.equal(list.size, 1);
  other.add(cs[1]!);
  assert.equal(other.size, 0, 'a controller is in one list at a time');
});

test('exactBody: the body as sent, parsed from the bytes once when it was read as latin1; the body itself when exact or released', () => {
  const raw = Buffer.from('{"model":"m","messages":[{"role":"user","content":"你好"}]}');
  const shape = JSON.parse(raw.toString('latin1')) as Record<string, unknown>;
  const ctx = { body: shape, bodyExact: false, raw, capture: false } as unknown as RequestContext;
  const exact = exactBody(ctx);
  assert.deepEqual(exact, { model: 'm', messages: [{ role: 'user', content: '你好' }] });
  assert.equal(ctx.body, exact, 'kept for the next attempt');
  assert.equal(ctx.bodyExact, true);
  assert.equal(exactBody(ctx), exact, 'parsed once');
  const asSent = { model: 'm' };
  assert.equal(exactBody({ body: asSent, bodyExact: true, raw } as unknown as RequestContext), asSent);
  // Released (a committed stream): nothing to parse, and nothing asks for it after commit.
  const released = { body: shape, bodyExact: false, raw, capture: false } as unknown as RequestContext;
  releaseBody(released);
  assert.deepEqual(exactBody(released), {});
});
