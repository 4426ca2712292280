import assert from "node:assert/strict";
import { chooseMtu, sleeveOverhead, VXLAN_OVERHEAD } from "./mtu.ts";

Deno.test("MTU is the underlay MTU minus the overhead of the path in use", () => {
  assert.equal(VXLAN_OVERHEAD, 50);
  assert.equal(chooseMtu({ underlayMtu: 1500, fastdp: true, encrypted: false }).mtu, 1450);
  // Pinned, not recomputed: outer IPv4 20 + UDP 8 + sleeve fragment header 42 + frame entry
  // (length 4 + virtio-net header 10) + inner Ethernet 14 = 98; encrypted adds the 16-byte tag.
  assert.equal(sleeveOverhead(false), 98);
  assert.equal(sleeveOverhead(true), 114);
  assert.equal(chooseMtu({ underlayMtu: 1500, fastdp: false, encrypted: false }).mtu, 1402);
  const enc = chooseMtu({ underlayMtu: 1500, fastdp: true, encrypted: true });
  assert.equal(enc.mtu, 1386);
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
