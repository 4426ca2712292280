import assert from "node:assert/strict";
import fc from "fast-check";
import {
  parsePeerName,
  peerNameBytes,
  PeerNameError,
  peerNameFromBytes,
  peerNameFromMachineId,
  randomUid,
} from "./peer_name.ts";

Deno.test("peer name: parsed case-insensitively, written lower case; bad names say what is expected", () => {
  assert.equal(parsePeerName("AA:bb:0C:dd:EE:ff"), "aa:bb:0c:dd:ee:ff");
  for (const bad of ["", "aa:bb:cc:dd:ee", "aa-bb-cc-dd-ee-ff", "gg:00:00:00:00:00"]) {
    assert.throws(() => parsePeerName(bad), PeerNameError);
  }
  assert.throws(() => parsePeerName("x"), /expected 6 hex bytes like aa:bb:cc:dd:ee:ff/);
});

Deno.test("peer name: from the machine id — stable, distinct per machine, a local unicast MAC", () => {
  fc.assert(fc.property(fc.string({ minLength: 1 }).filter((s) => s.trim() !== ""), (id) => {
    const name = peerNameFromMachineId(id);
    assert.equal(peerNameFromMachineId(id + "\n"), name, "trailing newline of the file ignored");
    const first = peerNameBytes(name)[0];
    assert.equal(first & 1, 0, "unicast");
    assert.equal(first & 2, 2, "locally administered");
    assert.equal(peerNameFromBytes(peerNameBytes(name)), name);
  }));
  assert.notEqual(peerNameFromMachineId("machine-a"), peerNameFromMachineId("machine-b"));
  assert.throws(() => peerNameFromMachineId("  \n"), /empty machine id/);
});

Deno.test("peer uid: 16 hex digits, fresh every time", () => {
  const uids = new Set(Array.from({ length: 100 }, randomUid));
  assert.equal(uids.size, 100);
  for (const u of uids) assert.match(u, /^[0-9a-f]{16}$/);
});
