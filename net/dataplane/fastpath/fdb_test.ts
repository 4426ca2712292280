import assert from "node:assert/strict";
import { desiredFdb, diffFdb, FLOOD_MAC } from "./fdb.ts";
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

Deno.test("desiredFdb: a MAC claimed by two peers goes to the newer record", () => {
  const moved = "0a:00:00:00:00:09";
  const records = [rec(B, "192.168.0.2", [moved], 5), rec(C, "192.168.0.3", [moved], 9)];
  const d = desiredFdb(records, A, new Set([B, C])).filter((e) => e.mac === moved);
  assert.deepEqual(d, [{ mac: moved, dst: "192.168.0.3" }]);
  // Same version: the greater peer name wins, whichever record comes first.
  const tie = [rec(C, "192.168.0.3", [moved], 5), rec(B, "192.168.0.2", [moved], 5)];
  for (const order of [tie, [...tie].reverse()]) {
    const t = desiredFdb(order, A, new Set([B, C])).filter((e) => e.mac === moved);
    assert.deepEqual(t, [{ mac: moved, dst: "192.168.0.3" }]);
  }
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
