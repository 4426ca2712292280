import assert from "node:assert/strict";
import { ERROR_KINDS, type ErrorKind, WeavetsError } from "../net/errors.ts";
import { cniCodeFor, CniError, ErrorCode, unexpectedError } from "./errors.ts";

Deno.test("cni errors: cniCodeFor maps every error kind to a spec code", () => {
  const want: Record<ErrorKind, number> = {
    "invalid-input": ErrorCode.DecodeFailure,
    "too-large": ErrorCode.DecodeFailure,
    config: ErrorCode.InvalidConfig,
    unavailable: ErrorCode.TryAgainLater,
    conflict: ErrorCode.IOFailure,
    "not-found": ErrorCode.IOFailure,
    system: ErrorCode.IOFailure,
    internal: ErrorCode.IOFailure,
  };
  assert.deepEqual(Object.keys(want).sort(), [...ERROR_KINDS].sort());
  for (const k of ERROR_KINDS) assert.equal(cniCodeFor(k), want[k], k);
});

Deno.test("cni errors: unexpectedError takes the kind's code; an unclassified error stays 5", () => {
  const e = unexpectedError("ADD", new WeavetsError("config", "no bridge name"), "stderr");
  assert.ok(e instanceof CniError);
  assert.equal(e.code, ErrorCode.InvalidConfig);
  assert.equal(e.message, "ADD failed: no bridge name");
  assert.deepEqual(e.toJSON("1.1.0"), {
    cniVersion: "1.1.0",
    code: 7,
    msg: "ADD failed: no bridge name",
    details: "stderr",
  });
  // Negative control: a plain Error (a bug) is an I/O failure, as before kinds existed.
  assert.equal(unexpectedError("ADD", new Error("boom"), "stderr").code, ErrorCode.IOFailure);
});
