import assert from "node:assert/strict";
import type { DataKey, MeshView, PeerInfo } from "../mesh/gossip_channel.ts";
import { sleevePeers, snapshot } from "./snapshot.ts";
import type { Plan } from "./plan.ts";

const A = "02:00:00:00:00:0a", B = "02:00:00:00:00:0b", C = "02:00:00:00:00:0c";
const D = "02:00:00:00:00:0d";
const key: DataKey = { id: new Uint8Array(8), secret: new Uint8Array(32) };

function mesh(over: Partial<MeshView> = {}): MeshView {
  const peers: PeerInfo[] = [
    { name: A, nickname: "a", reachable: true },
    { name: B, nickname: "b", reachable: true },
    { name: C, nickname: "c", reachable: false },
  ];
  return { self: A, peers: () => peers, ...over } as MeshView;
}

Deno.test("snapshot: reachable peers exclude self; routes and children from the mesh", () => {
  const s = snapshot(
    mesh({
      nextHop: (p) => (p === B ? B : undefined),
      broadcastChildren: (o) => (o === A ? [B] : []),
    }),
    [A, B, C],
    false,
  );
  assert.deepEqual([...s.reachable], [B]);
  assert.deepEqual([...s.known], [A, B, C]);
  assert.deepEqual([...s.nextHop!], [[B, B]], "routes asked for reachable peers only");
  assert.deepEqual(s.children(A), [B]);
  assert.equal(s.sessions.size, 0, "no keys without a password");
});

Deno.test("snapshot: a mesh without routes is a full mesh; keys for every peer with a record", () => {
  const s = snapshot(mesh({ dataKey: (p) => (p === A ? key : p === D ? key : undefined) }), [
    A,
    B,
    D,
  ], true);
  assert.equal(s.nextHop, undefined, "the plan then takes every peer as direct");
  assert.deepEqual(s.children(A), [B], "self's children: every reachable peer");
  assert.deepEqual(s.children(B), []);
  // D has a record but is not in the topology now: its key still counts (never taken back
  // while its connection lives); self never has one.
  assert.deepEqual([...s.keyed], [D]);
});

Deno.test("sleevePeers: reachable peers, on the userspace path unless fast, with the MACs they own", () => {
  const rec = (peer: string, macs: string[]) => ({
    peer,
    version: 1,
    addr: `192.168.0.${peer.slice(-1)}`,
    sleevePort: 6783,
    fastdpPort: 6784,
    fastdp: true,
    macs,
  });
  const snap = {
    self: "02:00:00:00:00:01",
    known: new Set(["02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:03"]),
    reachable: new Set(["02:00:00:00:00:02"]),
    nextHop: new Map([["02:00:00:00:00:02", "02:00:00:00:00:02"]]),
    keyed: new Set<string>(),
    sessions: new Map(),
    children: (o: string) => o === "02:00:00:00:00:02" ? ["x"] : [],
  };
  const plan = {
    fastPeers: new Set<string>(),
    // B claims a MAC the plan gives to C: not followed.
    macOwners: new Map([["0a:00:00:00:00:02", "02:00:00:00:00:02"], [
      "0a:00:00:00:00:03",
      "02:00:00:00:00:03",
    ]]),
  } as unknown as Plan;
  const records = [
    rec("02:00:00:00:00:02", ["0a:00:00:00:00:02", "0a:00:00:00:00:03"]),
    rec("02:00:00:00:00:03", ["0a:00:00:00:00:03"]), // not reachable: left out
  ];
  assert.deepEqual(sleevePeers(records, plan, snap), [{
    name: "02:00:00:00:00:02",
    addr: "192.168.0.2",
    port: 6783,
    sleeve: true,
    macs: ["0a:00:00:00:00:02"],
    via: "02:00:00:00:00:02",
    children: ["x"],
  }]);
  const fast = { ...plan, fastPeers: new Set(["02:00:00:00:00:02"]) } as Plan;
  assert.equal(sleevePeers(records, fast, snap)[0].sleeve, false);
});
