import assert from "node:assert/strict";
import { ERROR_KINDS, type ErrorKind, kindOf } from "../net/errors.ts";
import { exitCodeFor, UsageError } from "./command.ts";

Deno.test("cli: exitCodeFor — 2 for what the operator must change, 1 for every other failure", () => {
  const want: Record<ErrorKind, number> = {
    "invalid-input": 1,
    "too-large": 1,
    config: 2,
    unavailable: 1,
    conflict: 1,
    "not-found": 1,
    system: 1,
    internal: 1,
  };
  assert.deepEqual(Object.keys(want).sort(), [...ERROR_KINDS].sort());
  for (const k of ERROR_KINDS) assert.equal(exitCodeFor(k), want[k], k);
  // A usage error is a configuration error: exit 2, as the entry point always did.
  assert.equal(exitCodeFor(kindOf(new UsageError("unknown flag --x"))), 2);
  // Negative control: a bug is not the operator's to fix.
  assert.equal(exitCodeFor(kindOf(new Error("boom"))), 1);
});
