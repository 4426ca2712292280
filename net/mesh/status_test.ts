import assert from "node:assert/strict";
import { meshStatus, meshSummary, type StatusSnapshot, summarize } from "./status.ts";

const conn = (name: string, established = true) => ({
  name,
  address: "10.0.0.1:6783",
  outbound: true,
  established,
});
const entry = (name: string, connections: ReturnType<typeof conn>[]) => ({
  name,
  nickname: `n-${name}`,
  uid: "0000000000000001",
  version: 1,
  connections,
});

function snapshot(entries: StatusSnapshot["entries"]): StatusSnapshot {
  return {
    self: { name: "a", nickname: "n-a", uid: "0000000000000001" },
    protocol: "weavets 2..2",
    encryption: false,
    controlAuth: "none",
    connLimit: 10,
    listen: "0.0.0.0:6783",
    established: [],
    targets: [],
    entries,
    reachable: () => true,
    routes: new Map(),
  };
}

Deno.test("mesh status: a connection is established only when both ends report it established", () => {
  const s = meshStatus(snapshot([
    entry("a", [conn("b"), conn("c"), conn("d")]),
    entry("b", [conn("a")]),
    entry("c", [conn("a", false)]), // c's end still pending
    // d lists nothing: a one-sided (or forged) claim
    entry("d", []),
  ]));
  const a = s.peers.find((p) => p.name === "a")!;
  assert.deepEqual(a.connections.map((c) => [c.name, c.established]), [
    ["b", true],
    ["c", false],
    ["d", false],
  ]);
  assert.equal(s.peers[0].name, "a", "self first");
  assert.deepEqual(s.peers.find((p) => p.name === "c")!.connections[0].established, false);
});

Deno.test("mesh status: a hostile topology (one entry with 1,024 connections) stays linear", () => {
  // 1,024 peers each linked to one hub that lists them all. The hub's list is read through a
  // proxy that counts element reads: a scan of it per connection (the old projection) reads it
  // ~500,000 times; an index reads it a few times over.
  const names = Array.from({ length: 1024 }, (_, i) => `p${i}`);
  let reads = 0;
  const hubConns = new Proxy([conn("a"), ...names.map((n) => conn(n))], {
    get(target, key, receiver) {
      if (typeof key === "string" && /^\d+$/.test(key)) reads++;
      return Reflect.get(target, key, receiver);
    },
  });
  const entries = [entry("a", [conn("hub")]), entry("hub", hubConns)];
  for (const n of names) entries.push(entry(n, [conn("hub")]));
  const s = meshStatus(snapshot(entries));
  const hub = s.peers.find((p) => p.name === "hub")!;
  assert.equal(hub.connections.filter((c) => c.established).length, 1025);
  assert.equal(s.peers.find((p) => p.name === "p7")!.connections[0].established, true);
  assert.ok(reads < 5 * 1025, `the hub's list was read ${reads} times`);
});

Deno.test("mesh summary: the counts of the full status, without routes or reachability", () => {
  const entries = [
    entry("a", [conn("b"), conn("c"), conn("d")]),
    entry("b", [conn("a"), conn("c")]),
    entry("c", [conn("a", false), conn("b")]),
    entry("d", []),
  ];
  const s: StatusSnapshot = {
    ...snapshot(entries),
    established: [{ outbound: true, address: "10.0.0.2:6783", name: "b", nickname: "n-b" }],
    targets: [
      { address: "10.0.0.2:6783", state: "established", origin: "configured", peer: "b" },
      { address: "10.0.0.3:6783", state: "retrying", origin: "configured" },
      { address: "10.0.0.4:6783", state: "connecting", origin: "discovered" },
    ] as StatusSnapshot["targets"],
  };
  const full = summarize(meshStatus(s));
  // a-b, b-a, b-c, c-b: four records both ends report established.
  assert.equal(full.establishedConnections, 4);
  assert.deepEqual(full.connectionStates, ["established", "retrying", "connecting"]);
  assert.equal(full.targets, 2);
  // The summary reads neither routes nor reachability (each would recompute the routes after
  // a topology change): both throw here, and the full status shows they would be read.
  const strict: StatusSnapshot = {
    ...s,
    reachable: () => {
      throw new Error("reachability read");
    },
    get routes(): never {
      throw new Error("routes read");
    },
  };
  assert.throws(() => meshStatus(strict), /read/);
  assert.deepEqual(meshSummary(strict), full);
});
