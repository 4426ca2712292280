/** Waiting in tests for a condition, never for a fixed time. */
import assert from "node:assert/strict";

/**
 * Polls `cond` every `everyMs` until it holds; fails the test, naming `what`, after `ms`.
 * Resolves to the milliseconds it waited.
 */
export async function until(
  what: string,
  cond: () => boolean | Promise<boolean>,
  ms: number,
  everyMs = 200,
): Promise<number> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return Date.now() - t0;
}
