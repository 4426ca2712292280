import assert from "node:assert/strict";
import { ERROR_KINDS, type ErrorKind, WeavetsError } from "../errors.ts";
import { failureResponse, httpStatusFor } from "./route.ts";

Deno.test("api: httpStatusFor maps every error kind", () => {
  const want: Record<ErrorKind, number> = {
    "invalid-input": 400,
    "too-large": 413,
    config: 500,
    unavailable: 503,
    conflict: 409,
    "not-found": 404,
    system: 500,
    internal: 500,
  };
  assert.deepEqual(Object.keys(want).sort(), [...ERROR_KINDS].sort());
  for (const k of ERROR_KINDS) assert.equal(httpStatusFor(k), want[k], k);
});

Deno.test("api: failureResponse — the kind's status and the message; a bug says internal error", async () => {
  const unavailable = failureResponse(new WeavetsError("unavailable", "IPAM has no range yet"));
  assert.equal(unavailable.status, 503);
  assert.equal(await unavailable.text(), "IPAM has no range yet\n");
  const bug = failureResponse(new TypeError("x is undefined"));
  assert.equal(bug.status, 500);
  assert.equal(await bug.text(), "internal error: x is undefined\n");
  // Negative control: an object that merely looks like one is not trusted for its status.
  const fake = failureResponse({ kind: "not-found", message: "m" });
  assert.equal(fake.status, 500);
  await fake.body?.cancel();
});
