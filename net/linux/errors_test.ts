import assert from "node:assert/strict";
import { kindOf } from "../errors.ts";
import { Errno } from "./errno.ts";
import { invalid, LinuxError, linuxErrorKind } from "./errors.ts";

Deno.test("linux errors: the kind of a failed kernel operation follows its errno", () => {
  const table: Array<[string, string]> = [
    ["ENOENT", "not-found"],
    ["ENODEV", "not-found"],
    ["ESRCH", "not-found"],
    ["EEXIST", "conflict"],
    // Negative controls: everything else is a system failure, not something to retry or ignore.
    ["EPERM", "system"],
    ["EINVAL", "system"],
    ["EBUSY", "system"],
    ["", "system"],
  ];
  for (const [code, want] of table) assert.equal(linuxErrorKind(code), want, code);
  const e = new LinuxError("create veth", Errno.EEXIST, "vethx");
  assert.equal(kindOf(e), "conflict");
  assert.equal(e.code, "EEXIST");
  assert.match(e.message, /^create veth "vethx" failed: EEXIST/);
  assert.equal(kindOf(invalid("add route", "10.0.0.0/33", "prefix over 32")), "system");
});
