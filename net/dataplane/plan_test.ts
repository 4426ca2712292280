import assert from "node:assert/strict";
import { FLOOD_MAC } from "./fastpath/fdb.ts";
import type { PeerRecord } from "./fastpath/mac_gossip.ts";
import { probeMac } from "./fastpath/probe.ts";
import { type MeshSnapshot, type Plan, type PlanInput, planPaths, renderReason } from "./plan.ts";

const SELF = "02:00:00:00:00:01", B = "02:00:00:00:00:02", C = "02:00:00:00:00:03";
const rec = (peer: string, n: number, fastdp = true): PeerRecord => ({
  peer,
  version: 100 + n,
  addr: `192.168.0.${n}`,
  sleevePort: 6783,
  fastdpPort: 6784,
  fastdp,
  macs: [`0a:00:00:00:00:0${n}`],
});
const records = [rec(SELF, 1), rec(B, 2), rec(C, 3)];

function mesh(over: Partial<MeshSnapshot> = {}): MeshSnapshot {
  return {
    self: SELF,
    known: new Set([SELF, B, C]),
    reachable: new Set([B, C]),
    keyed: new Set(),
    ...over,
  };
}

const T = 1_000_000;
function input(over: Partial<PlanInput> = {}): PlanInput {
  return {
    mesh: mesh(),
    records,
    fastdp: true,
    encrypted: false,
    lastReply: new Map(),
    previous: undefined,
    now: T,
    probeTimeoutMs: 5000,
    adoptUntil: 0,
    ...over,
  };
}

const summary = (p: Plan) => p.paths.map((x) => `${x.peer.slice(-2)} ${x.path} ${x.reason.kind}`);

Deno.test("planPaths: answered probes mean the fast path; the FDB holds fast peers and probes", () => {
  const p = planPaths(input({ lastReply: new Map([[B, T - 1000]]) }));
  assert.deepEqual(summary(p), ["02 fastdp probes-answered", "03 sleeve awaiting-probe"]);
  assert.deepEqual([...p.fastPeers], [B]);
  assert.deepEqual(p.probe, [B, C], "every reachable peer that offers the fast path is probed");
  assert.deepEqual(p.fdb, [
    { mac: FLOOD_MAC, dst: "192.168.0.2" },
    { mac: "0a:00:00:00:00:02", dst: "192.168.0.2" },
    { mac: probeMac(B), dst: "192.168.0.2" },
    { mac: probeMac(C), dst: "192.168.0.3" },
  ]);
  assert.equal(p.probeOwners.get(probeMac(C)), C);
  assert.equal(p.paths[0].version, 102);
});

Deno.test("planPaths: replies older than the timeout fall back, with how long", () => {
  const p = planPaths(input({ lastReply: new Map([[B, T - 12_000], [C, T - 5000]]) }));
  assert.deepEqual(summary(p), ["02 sleeve probes-unanswered", "03 fastdp probes-answered"]);
  assert.equal(renderReason(p.paths[0].reason), "fast path probes unanswered for 12 s");
});

Deno.test("planPaths: every reason a peer takes the userspace path", () => {
  const relayed = planPaths(input({ mesh: mesh({ nextHop: new Map([[B, C], [C, C]]) }) }));
  assert.deepEqual(relayed.paths[0].reason, { kind: "relayed", via: C });
  assert.equal(
    renderReason(relayed.paths[0].reason),
    `no direct connection: relayed through ${C} on the userspace path`,
  );
  const off = planPaths(input({ fastdp: false }));
  assert.deepEqual(summary(off), ["02 sleeve fastdp-off", "03 sleeve fastdp-off"]);
  assert.deepEqual(off.fdb, [], "no FDB at all without the fast path");
  assert.deepEqual(off.probe, []);
  const enc = planPaths(
    input({ fastdp: false, encrypted: true, mesh: mesh({ keyed: new Set([B]) }) }),
  );
  assert.deepEqual(summary(enc), ["02 sleeve encrypted", "03 sleeve encrypted-no-key"]);
  const peerOff = planPaths(input({ records: [rec(B, 2, false)] }));
  assert.deepEqual(summary(peerOff), ["02 sleeve peer-no-fastdp"]);
  // Every reason renders to words (a kind without a case would render undefined).
  for (const p of [relayed, off, enc, peerOff]) {
    for (const x of p.paths) assert.match(renderReason(x.reason), /^[a-z]/);
  }
});

Deno.test("planPaths: a fast peer that loses its control connection keeps the kernel path", () => {
  const up = planPaths(input({ lastReply: new Map([[B, T]]) }));
  const lost = planPaths(input({
    mesh: mesh({ reachable: new Set([C]) }),
    previous: up,
    now: T + 60_000, // long past the probe timeout: the peer is judged only when it is back
  }));
  assert.deepEqual(summary(lost), ["02 fastdp disconnected-kept", "03 sleeve awaiting-probe"]);
  assert.ok(lost.fastPeers.has(B) && lost.frozen.has(B));
  assert.ok(lost.fdb.some((e) => e.dst === "192.168.0.2" && e.mac === "0a:00:00:00:00:02"));
  assert.ok(!lost.probe.includes(B), "an unreachable peer is not probed");
  const still = planPaths(input({ mesh: mesh({ reachable: new Set([C]) }), previous: lost }));
  assert.ok(still.frozen.has(B), "stays frozen across plans");
  // Back: a probe timeout from now to answer (rearm), so it stays fast meanwhile.
  const back = planPaths(input({ previous: still, now: T + 90_000 }));
  assert.deepEqual(back.rearm, [B]);
  assert.equal(back.paths[0].path, "fastdp");
  assert.equal(back.frozen.size, 0);
  // Forgotten by the mesh: no path, no FDB.
  const gone = planPaths(input({
    mesh: mesh({ known: new Set([SELF, C]), reachable: new Set([C]) }),
    previous: lost,
  }));
  assert.deepEqual(summary(gone), ["03 sleeve awaiting-probe"]);
  assert.ok(!gone.fdb.some((e) => e.dst === "192.168.0.2"));
  // A peer that was on the userspace path is not frozen when its connection drops.
  const slow = planPaths(input());
  const dropped = planPaths(input({ mesh: mesh({ reachable: new Set([C]) }), previous: slow }));
  assert.deepEqual(summary(dropped), ["03 sleeve awaiting-probe"]);
});

Deno.test("planPaths: what moved", () => {
  const a = planPaths(input({ lastReply: new Map([[B, T]]) }));
  assert.deepEqual(a.moved, [], "nothing moves on the first plan");
  const b = planPaths(input({ previous: a, now: T + 6000, lastReply: new Map([[B, T]]) }));
  assert.deepEqual(b.moved, [{ peer: B, from: "fastdp", to: "sleeve" }]);
  const c = planPaths(input({ previous: b, now: T + 7000, lastReply: new Map([[B, T + 7000]]) }));
  assert.deepEqual(c.moved.map((m) => `${m.from}->${m.to}`), ["sleeve->fastdp"]);
});

Deno.test("planPaths: after a restart, entries towards addresses without a record are kept", () => {
  const during = planPaths(input({ adoptUntil: T + 1 }));
  assert.deepEqual([...during.deletable!].sort(), ["192.168.0.2", "192.168.0.3"]);
  assert.equal(planPaths(input({ adoptUntil: T })).deletable, null, "grace over: any may go");
});

Deno.test("planPaths is pure: the same input gives the same plan, and inputs are not changed", () => {
  const i = input({ lastReply: new Map([[B, T]]) });
  const copy = structuredClone(i);
  assert.deepEqual(planPaths(i), planPaths(i));
  assert.deepEqual(i, copy);
});

Deno.test("planPaths: in the start grace no MAC owner is kept, after it the owner is", () => {
  const pod = "0a:00:00:00:00:02"; // B's pod
  const claim = { ...rec(C, 3), version: 2 ** 30, macs: [pod] }; // C's own record claims it
  // Records arrive in any order after a start: the claimant's first, alone, then B's.
  const early = planPaths(input({ records: [rec(SELF, 1), claim], adoptUntil: T + 1 }));
  assert.equal(early.macOwners.get(pod), C, "a MAC one record claims is that record's");
  const both = [rec(SELF, 1), rec(B, 2), claim];
  const during = planPaths(input({ records: both, previous: early, adoptUntil: T + 1 }));
  assert.equal(during.macOwners.get(pod), undefined, "the claimant seen first keeps nothing");
  assert.deepEqual(during.disputedMacs.map((d) => d.owner), [null, null]);
  // Negative control: past the grace the same order would have kept the claimant.
  const after = planPaths(input({ records: both, previous: early, adoptUntil: T }));
  assert.equal(after.macOwners.get(pod), C);
  // Past the grace, B holding it, C's claim is refused.
  const held = planPaths(input({ records: [rec(SELF, 1), rec(B, 2)] }));
  const refused = planPaths(input({ records: both, previous: held }));
  assert.equal(refused.macOwners.get(pod), B);
  assert.deepEqual(refused.disputedMacs, [{ mac: pod, owner: B, claimant: C }]);
});
