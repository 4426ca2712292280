import assert from "node:assert/strict";
import {
  ConnectionMaker,
  corroboratedAddresses,
  type EntryFacts,
  type MakerOptions,
} from "./connection_maker.ts";

const BACKOFF = { baseMs: 1_000, capMs: 8_000, jitter: 0.25 };
const A = "02:00:00:00:00:0a", B = "02:00:00:00:00:0b", C = "02:00:00:00:00:0c";
const SELF = "02:00:00:00:00:01";

function maker(o: Partial<MakerOptions> = {}) {
  // random() = 0: no jitter, so every delay is exact.
  return new ConnectionMaker({
    backoff: BACKOFF,
    random: () => 0,
    discoveryPort: 6783,
    discoverOnlyTargetHosts: false,
    maxDiscovered: 64,
    ...o,
  });
}

const state = (m: ConnectionMaker, address: string) =>
  m.targets().find((t) => t.address === address);

Deno.test("maker: targets are due at once, then back off exponentially to the cap", () => {
  const m = maker();
  m.setTargets(["10.0.0.2:6783"], "configured");
  assert.deepEqual(m.due(0, 10), { dial: ["10.0.0.2:6783"], wakeAt: null });
  assert.equal(state(m, "10.0.0.2:6783")?.state, "connecting");
  assert.deepEqual(m.due(0, 10), { dial: [], wakeAt: null }, "not twice while connecting");
  let t = 0;
  for (const delay of [1_000, 2_000, 4_000, 8_000, 8_000]) {
    m.dialFailed("10.0.0.2:6783", "refused", false, t);
    assert.deepEqual(m.due(t + delay - 1, 10), { dial: [], wakeAt: t + delay });
    t += delay;
    assert.deepEqual(m.due(t, 10).dial, ["10.0.0.2:6783"]);
  }
  m.dialFailed("10.0.0.2:6783", "wrong password", true, t);
  assert.equal(state(m, "10.0.0.2:6783")?.state, "failed");
  assert.equal(state(m, "10.0.0.2:6783")?.reason, "wrong password");
});

Deno.test("maker: jitter shortens a delay by at most its fraction", () => {
  const m = new ConnectionMaker({
    backoff: BACKOFF,
    random: () => 0.999,
    discoveryPort: null,
    discoverOnlyTargetHosts: false,
    maxDiscovered: 1,
  });
  m.setTargets(["10.0.0.2:6783"], "configured");
  m.due(0, 1);
  m.dialFailed("10.0.0.2:6783", "x", false, 0);
  const at = m.due(0, 1).wakeAt!;
  assert.ok(at >= 750 && at < 1_000, `${at}`);
});

Deno.test("maker: a target backing off is due at once when another peer reports it up (at most once per base delay)", () => {
  const m = maker();
  const b = "10.0.0.2:6783";
  m.setTargets([b], "configured");
  m.due(0, 10);
  m.dialFailed(b, "refused", false, 0); // next at 1000
  m.due(1_000, 10);
  m.dialFailed(b, "refused", false, 1_000); // next at 3000
  const up = new Map([[b, B]]);
  m.discovered(up, 1_500);
  assert.deepEqual(
    m.due(1_500, 10),
    { dial: [], wakeAt: 3_000 },
    "500 ms since the last try: wait",
  );
  m.discovered(up, 2_100);
  assert.deepEqual(m.due(2_100, 10).dial, [b], "reported up: not after the backoff");
});

Deno.test("maker: beyond the connection limit's room, due targets wait for their next step", () => {
  const m = maker();
  m.setTargets(["10.0.0.2:6783", "10.0.0.3:6783", "10.0.0.4:6783"], "configured");
  const d = m.due(0, 1);
  assert.equal(d.dial.length, 1);
  assert.equal(d.wakeAt, 1_000);
  const waiting = m.targets().filter((t) => t.state === "retrying");
  assert.equal(waiting.length, 2);
  assert.ok(waiting.every((t) => t.reason === "connection limit reached"));
});

Deno.test("maker: a connected peer's targets are established; a disconnect redials after the base delay", () => {
  const m = maker();
  m.setTargets(["10.0.0.2:6783"], "configured");
  m.due(0, 10);
  m.connected("10.0.0.2:6783", B);
  assert.equal(state(m, "10.0.0.2:6783")?.state, "established");
  assert.deepEqual(m.due(5, 10), { dial: [], wakeAt: null });
  m.disconnected(B, "dead", 100);
  assert.equal(state(m, "10.0.0.2:6783")?.reason, "connection closed: dead");
  assert.deepEqual(m.due(1_099, 10), { dial: [], wakeAt: 1_100 });
  assert.deepEqual(m.due(1_100, 10).dial, ["10.0.0.2:6783"]);
  // An inbound connection from the same peer satisfies a target that was retrying for it.
  m.dialFailed("10.0.0.2:6783", "x", false, 1_100);
  m.connected(null, B);
  assert.equal(state(m, "10.0.0.2:6783")?.state, "established");
});

Deno.test("maker: run-time targets replace each other; configured ones stay; forget drops one", () => {
  const m = maker();
  m.setTargets(["10.0.0.1:6783"], "configured");
  m.setTargets(["10.0.0.2:6783", "10.0.0.1:6783"], "dynamic");
  m.setTargets(["10.0.0.3:6783"], "dynamic");
  assert.deepEqual(m.targets().map((t) => [t.address, t.origin]).sort(), [
    ["10.0.0.1:6783", "configured"],
    ["10.0.0.3:6783", "dynamic"],
  ]);
  assert.ok(m.isTargetHost("10.0.0.3") && !m.isTargetHost("10.0.0.2"));
  m.forget("10.0.0.1:6783");
  assert.deepEqual(m.targets().map((t) => t.address), ["10.0.0.3:6783"]);
});

const entry = (name: string, ...conns: Array<[string, string]>): EntryFacts => ({
  name,
  connections: conns.map(([n, address]) => ({ name: n, address, established: true })),
});

Deno.test("discovery: only connections both ends list, to peers not connected here", () => {
  const entries = [
    entry(SELF, [A, "10.0.0.10:6783"]),
    entry(A, [SELF, "10.0.0.1:6783"], [B, "10.0.0.11:6783"], [C, "10.0.0.12:6783"]),
    entry(B, [A, "10.0.0.10:6783"]),
    // C does not list A: A's report of C is not corroborated (a forged or stale entry).
  ];
  const wanted = corroboratedAddresses(entries, SELF, (n) => n === A);
  assert.deepEqual([...wanted], [["10.0.0.11:6783", B]]);
  // One forged entry naming ten addresses makes no one dial.
  const forged = [
    entry(SELF),
    entry(
      A,
      ...Array.from(
        { length: 10 },
        (_, i) => [`02:00:00:00:01:${10 + i}`, `198.18.0.99:${7001 + i}`] as [string, string],
      ),
    ),
  ];
  assert.equal(corroboratedAddresses(forged, SELF, () => false).size, 0);
});

Deno.test("discovery: only the mesh port; with --kube only node hosts; at most maxDiscovered; stale ones dropped", () => {
  const m = maker({ discoverOnlyTargetHosts: true, maxDiscovered: 2 });
  m.setTargets(["10.0.0.2:6783", "10.0.0.3:6783", "10.0.0.4:6783"], "dynamic");
  for (const t of ["10.0.0.2:6783", "10.0.0.3:6783", "10.0.0.4:6783"]) m.connected(t, t);
  m.discovered(
    new Map([
      ["10.0.0.2:7000", A], // wrong port
      ["198.18.0.99:6783", B], // not a node
      ["10.0.0.3:6783", C], // already a target: not a second one
    ]),
    0,
  );
  assert.deepEqual(m.targets().filter((t) => t.origin === "discovered"), []);

  const open = maker({ maxDiscovered: 2 });
  open.discovered(new Map([["10.0.1.1:6783", A], ["10.0.1.2:6783", B], ["10.0.1.3:6783", C]]), 0);
  assert.equal(open.due(0, 10).dial.length, 2, "capped");
  open.dialFailed("10.0.1.1:6783", "x", false, 0);
  open.discovered(new Map([["10.0.1.2:6783", B]]), 1);
  assert.deepEqual(
    open.targets().map((t) => t.address),
    ["10.0.1.2:6783"],
    "a discovery no longer reported is dropped (unless connecting)",
  );
});

Deno.test("discovery: linear in a hostile topology (one entry listing 1,024 peers that list it)", () => {
  // Runs on every topology change. The hub's list is read through a proxy that counts element
  // reads: a scan of it per corroboration read it ~500,000 times; an index, a few times over.
  const hub = "02:00:00:00:ff:ff";
  const names = Array.from(
    { length: 1024 },
    (_, i) =>
      `02:00:00:00:${(i >> 8).toString(16).padStart(2, "0")}:${
        (i & 255).toString(16).padStart(2, "0")
      }`,
  );
  let reads = 0;
  const list = names.map((n) => ({ name: n, address: "198.18.0.99:6783", established: true }));
  const hubEntry: EntryFacts = {
    name: hub,
    connections: new Proxy(list, {
      get(target, key, receiver) {
        if (typeof key === "string" && /^\d+$/.test(key)) reads++;
        return Reflect.get(target, key, receiver);
      },
    }),
  };
  const entries = [hubEntry, ...names.map((n) => entry(n, [hub, "198.18.0.99:6783"]))];
  const wanted = corroboratedAddresses(entries, SELF, () => false);
  assert.deepEqual([...wanted.keys()], ["198.18.0.99:6783"], "one address, corroborated");
  assert.ok(reads < 5 * 1024, `the hub's list was read ${reads} times`);
});
