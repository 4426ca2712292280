import assert from "node:assert/strict";
import { LinuxError } from "./errors.ts";
import { checkIfName, checkNetnsName, ifNameProblem } from "./names.ts";

Deno.test("valid interface names pass: 1..15 bytes, dots, dashes, '@', '%d' patterns", () => {
  for (const n of ["a", "eth0", "vethwepl1234567", "br-weave", "v.1", "tap%d", "x@y"]) {
    assert.equal(ifNameProblem(n), undefined, n);
  }
});

Deno.test("invalid interface names are refused with the reason", () => {
  const cases: [string, RegExp][] = [
    ["", /empty/],
    ["abcdefghijklmnop", /16 bytes, at most 15/],
    ["ééééééééé", /18 bytes, at most 15/], // multi-byte: bytes count, not characters
    [".", /cannot be "\."/],
    ["..", /cannot be "\.\."/],
    ["a/b", /cannot contain '\/'/],
    ["a b", /whitespace/],
    ["a\tb", /whitespace/],
    ["a:b", /':'/],
  ];
  for (const [name, why] of cases) assert.match(ifNameProblem(name) ?? "ok", why, name);
});

Deno.test("checkIfName throws LinuxError EINVAL naming op and object", () => {
  assert.throws(() => checkIfName("create veth", "abcdefghijklmnop"), (e: unknown) => {
    assert.ok(e instanceof LinuxError);
    assert.equal(e.code, "EINVAL");
    assert.equal(e.errno, 22);
    assert.equal(e.op, "create veth");
    assert.equal(e.object, "abcdefghijklmnop");
    assert.equal(
      e.message,
      'create veth "abcdefghijklmnop" failed: EINVAL (Invalid argument: ' +
        "interface name is 16 bytes, at most 15 allowed)",
    );
    return true;
  });
});

Deno.test("netns names: no '/', not '.'/'..', not empty", () => {
  checkNetnsName("create netns", "wtl-1.a_b");
  for (const bad of ["", ".", "..", "a/b", "x".repeat(256)]) {
    assert.throws(() => checkNetnsName("create netns", bad), LinuxError, bad);
  }
});
