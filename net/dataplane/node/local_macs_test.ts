import assert from "node:assert/strict";
import { podMacs } from "./local_macs.ts";

Deno.test("podMacs: learned on local ports only, deduplicated and sorted", () => {
  const BR = 5, VX = 6, TAP = 7, POD = 8, OTHER_BR = 9;
  const e = (dev: number, mac: string, permanent = false, bridge = BR) => ({
    dev,
    mac,
    permanent,
    bridge,
  });
  assert.deepEqual(
    podMacs(
      [
        e(POD, "0a:00:00:00:00:02"),
        e(POD, "0a:00:00:00:00:01"),
        e(POD, "0a:00:00:00:00:01"), // the same MAC on another VLAN
        e(POD, "0a:00:00:00:00:09", true), // the port's own address
        e(VX, "0a:00:00:00:00:03"), // a remote pod behind the fast path
        e(TAP, "0a:00:00:00:00:04"), // a remote pod behind the userspace path
        e(BR, "0a:00:00:00:00:05"), // the bridge itself
        e(POD, "0a:00:00:00:00:06", false, OTHER_BR), // another bridge
      ],
      BR,
      new Set([BR, VX, TAP]),
    ),
    ["0a:00:00:00:00:01", "0a:00:00:00:00:02"],
  );
});
