import assert from "node:assert/strict";
import type { DataKey, MeshView, PeerInfo } from "../mesh/gossip_channel.ts";
import { snapshot } from "./snapshot.ts";

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
