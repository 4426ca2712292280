import assert from "node:assert/strict";
import { chooseMtu, sleeveOverhead, VXLAN_OVERHEAD } from "./mtu.ts";

Deno.test("MTU is the underlay MTU minus the overhead of the path in use", () => {
  assert.equal(VXLAN_OVERHEAD, 50);
  assert.equal(chooseMtu({ underlayMtu: 1500, fastdp: true, encrypted: false }).mtu, 1450);
  assert.equal(
    chooseMtu({ underlayMtu: 1500, fastdp: false, encrypted: false }).mtu,
    1500 - sleeveOverhead(false),
  );
  const enc = chooseMtu({ underlayMtu: 1500, fastdp: true, encrypted: true });
  assert.equal(enc.mtu, 1500 - sleeveOverhead(true));
  assert.equal(sleeveOverhead(true) - sleeveOverhead(false), 16, "AEAD tag");
  assert.match(enc.reason, /userspace/);
  assert.equal(chooseMtu({ underlayMtu: 9000, fastdp: true, encrypted: false }).mtu, 8950);
});

Deno.test("--mtu overrides, and impossible MTUs are refused with a way out", () => {
  assert.equal(
    chooseMtu({ underlayMtu: 1500, fastdp: true, encrypted: false, override: 1376 }).mtu,
    1376,
  );
  assert.throws(
    () => chooseMtu({ underlayMtu: 1500, fastdp: true, encrypted: false, override: 100 }),
    /outside/,
  );
  assert.throws(() => chooseMtu({ underlayMtu: 600, fastdp: false, encrypted: true }), /set --mtu/);
});
