/**
 * Which real backends the contract suites can use. `LLMUX_TEST_PG` / `LLMUX_TEST_REDIS` come from
 * `scripts/services.sh start` (or `.ci/run`). Without them a suite is skipped, saying how to get
 * them; with `CI=true` a missing variable is a failure, so CI can never pass by skipping.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test, type TestContext } from 'node:test';

export type ServiceVar = 'LLMUX_TEST_PG' | 'LLMUX_TEST_REDIS';

export function serviceUrl(name: ServiceVar): string | undefined {
  const v = process.env[name];
  return v && v.trim() !== '' ? v.trim() : undefined;
}

/**
 * For a suite that needs `name`: returns the URL, or registers one test that skips (locally) or
 * fails (in CI) and returns undefined, so the caller registers nothing else.
 */
export function requireService(name: ServiceVar, suite: string): string | undefined {
  const url = serviceUrl(name);
  if (url) return url;
  const why = `${suite}: set ${name} (run \`eval "$(scripts/services.sh start)"\`)`;
  if (process.env['CI'] === 'true') {
    test(`${suite} needs ${name}`, () => assert.fail(`${why}; CI must run against the real services`));
  } else {
    test(`${suite} needs ${name}`, (t: TestContext) => t.skip(why));
  }
  return undefined;
}

/** A name unique to this run, safe as a Postgres schema or a Redis key prefix. */
export function uniqueName(base: string): string {
  return `${base}_${process.pid}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

/** Poll `check` every `everyMs` until it is truthy or `withinMs` passes; resolves the last result. */
export async function eventually<T>(check: () => Promise<T> | T, withinMs: number, everyMs = 10): Promise<T> {
  const end = Date.now() + withinMs;
  let last = await check();
  while (!last && Date.now() < end) {
    await new Promise((r) => setTimeout(r, everyMs));
    last = await check();
  }
  return last;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
