import assert from "node:assert/strict";
import { desiredFdb, diffFdb, FLOOD_MAC, macOwners } from "./fdb.ts";
import type { PeerRecord } from "./mac_gossip.ts";

const rec = (peer: string, addr: string, macs: string[], version = 1): PeerRecord => ({
  peer,
  version,
  addr,
  sleevePort: 6783,
  fastdpPort: 6784,
  fastdp: true,
  macs,
});

const A = "02:00:00:00:00:0a", B = "02:00:00:00:00:0b", C = "02:00:00:00:00:0c";

Deno.test("desiredFdb: pod MACs to their peer plus one flood entry per fast peer, never self", () => {
  const records = [
    rec(A, "192.168.0.1", ["0a:00:00:00:00:01"]),
    rec(B, "192.168.0.2", ["0a:00:00:00:00:02", "0a:00:00:00:00:03"]),
    rec(C, "192.168.0.3", ["0a:00:00:00:00:04"]),
  ];
  assert.deepEqual(desiredFdb(records, A, new Set([B, C])), [
    { mac: FLOOD_MAC, dst: "192.168.0.2" },
    { mac: FLOOD_MAC, dst: "192.168.0.3" },
    { mac: "0a:00:00:00:00:02", dst: "192.168.0.2" },
    { mac: "0a:00:00:00:00:03", dst: "192.168.0.2" },
    { mac: "0a:00:00:00:00:04", dst: "192.168.0.3" },
  ]);
  // A peer not on the fast path (unreachable, or fallen back to userspace) gets nothing.
  assert.deepEqual(desiredFdb(records, A, new Set([B])).map((e) => e.dst), [
    "192.168.0.2",
    "192.168.0.2",
    "192.168.0.2",
  ]);
});

Deno.test("macOwners: a MAC two peers claim with no history goes to nobody, in any order", () => {
  const pod = "0a:00:00:00:00:09";
  // A daemon that just started cannot tell a pod's node from a member claiming its MAC at a far
  // higher version (issue 12's restart gap): the frames are flooded, so the owner still gets them.
  const owner = rec(B, "192.168.0.2", [pod], 5), thief = rec(C, "192.168.0.3", [pod], 2 ** 30);
  const tie = [rec(C, "192.168.0.3", [pod], 5), owner];
  for (const records of [[owner, thief], [thief, owner], tie, [...tie].reverse()]) {
    const { owners, disputed } = macOwners(records);
    assert.equal(owners.get(pod), undefined);
    assert.deepEqual(disputed, [
      { mac: pod, owner: null, claimant: B },
      { mac: pod, owner: null, claimant: C },
    ]);
    const fdb = desiredFdb(records, A, new Set([B, C]), owners);
    assert.deepEqual(fdb.filter((e) => e.mac === pod), [], "no entry: the flood entries carry it");
  }
  // Negative control: one claimant alone gets it, whatever its version.
  assert.equal(macOwners([thief]).owners.get(pod)?.peer, C);
  // Once one of them drops it, the other gets it, undisputed; and keeps it from then on.
  const settled = macOwners([rec(C, "192.168.0.3", [], 2 ** 30 + 1), owner]);
  assert.equal(settled.owners.get(pod)?.peer, B);
  assert.deepEqual(settled.disputed, []);
  const kept = macOwners([owner, thief], new Map([[pod, B]]));
  assert.equal(kept.owners.get(pod)?.peer, B);
});

Deno.test("macOwners: a MAC stays with its owner while it announces it; a higher claim is disputed", () => {
  const pod = "0a:00:00:00:00:07";
  const owner = rec(B, "192.168.0.2", [pod], 5);
  // A password holder (C) signs its own record listing B's pod MAC, at a far higher version.
  const thief = rec(C, "192.168.0.3", [pod], 5 + 2 ** 23);
  const first = macOwners([owner]);
  assert.equal(first.owners.get(pod)?.peer, B);
  const previous = new Map([...first.owners].map(([m, r]) => [m, r.peer]));
  for (const order of [[owner, thief], [thief, owner]]) {
    const { owners, disputed } = macOwners(order, previous);
    assert.equal(owners.get(pod)?.peer, B, "the owner keeps its MAC");
    assert.deepEqual(disputed, [{ mac: pod, owner: B, claimant: C }]);
    const fdb = desiredFdb(order, A, new Set([B, C]), owners).filter((e) => e.mac === pod);
    assert.deepEqual(fdb, [{ mac: pod, dst: "192.168.0.2" }]);
  }
  // Negative control: the thief alone, with no owner listing the MAC, takes it.
  assert.equal(macOwners([thief], previous).owners.get(pod)?.peer, C);
  // The owner drops the MAC (the pod is gone or moved): the other claimant gets it, undisputed.
  const moved = macOwners([rec(B, "192.168.0.2", [], 6), thief], previous);
  assert.equal(moved.owners.get(pod)?.peer, C);
  assert.deepEqual(moved.disputed, []);
  // This node's own MACs are claimed like any other: a claim on them is refused too.
  const mine = macOwners([rec(A, "192.168.0.1", [pod], 1), thief], new Map([[pod, A]]));
  assert.equal(mine.owners.get(pod)?.peer, A);
  assert.deepEqual(desiredFdb([thief], A, new Set([C]), mine.owners), [
    { mac: FLOOD_MAC, dst: "192.168.0.3" },
  ]);
});

Deno.test("diffFdb adds what is missing, deletes what is stale or wrong, keeps what is right", () => {
  const desired = [
    { mac: FLOOD_MAC, dst: "192.168.0.2" },
    { mac: "0a:00:00:00:00:02", dst: "192.168.0.2" },
    { mac: "0a:00:00:00:00:05", dst: "192.168.0.3" },
  ];
  const actual = [
    { mac: FLOOD_MAC, dst: "192.168.0.2" },
    { mac: FLOOD_MAC, dst: "192.168.0.9" }, // stale peer
    { mac: "0A:00:00:00:00:02", dst: "192.168.0.2" }, // right, other case
    { mac: "0a:00:00:00:00:05", dst: "192.168.0.2" }, // wrong peer
  ];
  const d = diffFdb(desired, actual);
  assert.deepEqual(d.add, [{ mac: "0a:00:00:00:00:05", dst: "192.168.0.3" }]);
  assert.deepEqual(d.del, [
    { mac: FLOOD_MAC, dst: "192.168.0.9" },
    { mac: "0a:00:00:00:00:05", dst: "192.168.0.2" },
  ]);
  assert.equal(d.keep.length, 2);
  assert.deepEqual(diffFdb(desired, desired), { add: [], del: [], keep: desired });
});
