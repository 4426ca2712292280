import assert from "node:assert/strict";
import { LinuxError } from "./errors.ts";
import { readSysctl, writeSysctl } from "./sysctl.ts";

Deno.test("sysctl keys are slash paths under /proc/sys; traversal is refused", () => {
  for (const bad of ["", "/net/ipv4/ip_forward", "net/../../etc/passwd", "net//x", "net/ipv4/"]) {
    assert.throws(
      () => readSysctl(bad),
      (e: unknown) => e instanceof LinuxError && e.code === "EINVAL",
    );
    assert.throws(() => writeSysctl(bad, "1"), LinuxError);
  }
});

Deno.test("reading a sysctl returns its value without the newline; a missing key is ENOENT", () => {
  assert.match(readSysctl("net/core/somaxconn"), /^\d+$/);
  assert.throws(() => readSysctl("net/ipv4/no_such_key"), (e: unknown) => {
    assert.ok(e instanceof LinuxError);
    assert.equal(e.code, "ENOENT");
    assert.match(e.message, /read sysctl "net\/ipv4\/no_such_key" failed: ENOENT/);
    return true;
  });
});
