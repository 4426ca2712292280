import assert from "node:assert/strict";
import fc from "fast-check";
import {
  parsePeerName,
  peerNameBytes,
  PeerNameError,
  peerNameFromBytes,
  peerNameFromNodeName,
  randomUid,
  weaveSystemPeerName,
} from "./peer_name.ts";

Deno.test("peer name: parsed case-insensitively, written lower case; bad names say what is expected", () => {
  assert.equal(parsePeerName("AA:bb:0C:dd:EE:ff"), "aa:bb:0c:dd:ee:ff");
  for (const bad of ["", "aa:bb:cc:dd:ee", "aa-bb-cc-dd-ee-ff", "gg:00:00:00:00:00"]) {
    assert.throws(() => parsePeerName(bad), PeerNameError);
  }
  assert.throws(() => parsePeerName("x"), /expected 6 hex bytes like aa:bb:cc:dd:ee:ff/);
});

// Golden values computed outside this code, as Weave 2.8.1 does (weave:net/mac.go MACfromUUID):
//   printf '9oBJ0Jmip-%s' "$(cat /etc/machine-id; cat /sys/class/dmi/id/product_uuid)" ... i.e.
//   printf '9oBJ0Jmip-0123456789abcdef0123456789abcdef\n4C4C4544-0042-3510-8052-B4C04F563232\n' |
//     sha256sum  →  35788e8aad5f…; first byte 0x35 → (0x35 & 0xfe) | 0x02 = 0x36.
const MACHINE_ID = "0123456789abcdef0123456789abcdef\n";
const PRODUCT_UUID = "4C4C4544-0042-3510-8052-B4C04F563232\n";

Deno.test("peer name: Weave 2.8.1's, from the machine id and the product UUID (golden values)", () => {
  assert.equal(weaveSystemPeerName(MACHINE_ID, PRODUCT_UUID), "36:78:8e:8a:ad:5f");
  // No DMI (containers without /sys/class/dmi): the machine id alone, as Weave.
  assert.equal(weaveSystemPeerName(MACHINE_ID, null), "0a:39:ab:6e:42:c6");
  // A clone: the same machine id, another product UUID: another name (Weave's fix, #2460).
  assert.equal(
    weaveSystemPeerName(MACHINE_ID, "4C4C4544-0042-3510-8052-B4C04F563233\n"),
    "e2:62:b8:c8:3f:c5",
  );
  assert.throws(() => weaveSystemPeerName(null, ""), /all system IDs are blank/);
});

Deno.test("peer name: from the system ids — stable, distinct per machine, a local unicast MAC", () => {
  fc.assert(fc.property(fc.string({ minLength: 1 }), fc.string(), (id, uuid) => {
    const name = weaveSystemPeerName(id, uuid);
    assert.equal(weaveSystemPeerName(id, uuid), name, "the same on every start");
    const first = peerNameBytes(name)[0];
    assert.equal(first & 1, 0, "unicast");
    assert.equal(first & 2, 2, "locally administered");
    assert.equal(peerNameFromBytes(peerNameBytes(name)), name);
  }));
  assert.notEqual(weaveSystemPeerName("machine-a", null), weaveSystemPeerName("machine-b", null));
});

Deno.test("peer name: with --kube, from the node name (golden value), whatever the machine", () => {
  // printf 'weavets node name\0node-1' | sha256sum → 972121d6740a…; 0x97 → 0x96.
  assert.equal(peerNameFromNodeName("node-1"), "96:21:21:d6:74:0a");
  assert.notEqual(peerNameFromNodeName("node-2"), peerNameFromNodeName("node-1"));
  assert.throws(() => peerNameFromNodeName(" "), /empty node name/);
});

Deno.test("peer uid: 16 hex digits, fresh every time", () => {
  const uids = new Set(Array.from({ length: 100 }, randomUid));
  assert.equal(uids.size, 100);
  for (const u of uids) assert.match(u, /^[0-9a-f]{16}$/);
});
