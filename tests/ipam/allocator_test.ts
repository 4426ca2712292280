/** Allocator scenarios on the simulated cluster that the random histories do not aim at. */
import assert from "node:assert/strict";
import { parseCidr } from "../../net/addr/mod.ts";
import { Allocator } from "../../net/ipam/allocator.ts";
import { decodeMeta, encodeGossip } from "../../net/ipam/wire.ts";
import { TestKeyring } from "../../net/mesh/testing/keyring.ts";
import { SimCluster } from "./sim.ts";

const [A, B] = SimCluster.names(2);
const random = () => 0.5;
const k = (id: string) => ({ id, ifname: "eth0" });

Deno.test("an observer owns nothing until a peer donates space to it", () => {
  const c = new SimCluster(
    parseCidr("10.50.0.0/24"),
    [{ kind: "seed", members: [A] }, { kind: "observer" }],
    random,
  );
  c.quiesce();
  const o = c.peers[1].alloc;
  assert.equal(o.ring.shares().get(o.self) ?? 0, 0);
  const first = o.allocate(k("c1"));
  assert.ok(!first.ok && "wait" in first && /asked .* for space/.test(first.wait));
  c.quiesce();
  const r = o.allocate(k("c1"));
  assert.ok(r.ok);
  // The donor gave half of its free addresses (254 usable / 2), from its largest free range.
  assert.equal(o.ring.shares().get(o.self), 127);
});

Deno.test("a peer removed with rmpeer while away keeps its space and allocations and says so", () => {
  const c = new SimCluster(
    parseCidr("10.51.0.0/24"),
    [{ kind: "seed", members: [A, B] }, { kind: "seed", members: [A, B] }],
    random,
  );
  c.quiesce();
  const [a, b] = c.peers;
  assert.ok(b.alloc.allocate(k("old")).ok);
  c.kill(b);
  const r = a.alloc.rmpeer(B);
  assert.ok(r.ok && r.taken === 128);
  c.restart(b); // comes back with its old store
  c.quiesce();
  // Gossip never releases a live allocation: the takeover of b's own space is refused, reported
  // (status, metric, one log line) and b keeps what it had.
  assert.equal(b.alloc.allocations().length, 1);
  assert.equal(b.alloc.ring.shares().get(B), 128);
  const conflicts = b.alloc.conflicts.list();
  assert.deepEqual(conflicts.map((x) => [x.kind, x.subject]), [["lost-space", A]]);
  assert.match(conflicts[0].message, /signed a takeover of IP space this peer owns.*refused/);
  assert.ok((b.alloc.refused.get("own-space") ?? 0) > 0);
  // Reported once however often it comes again.
  c.antiEntropy();
  c.quiesce();
  assert.equal(b.alloc.conflicts.list().length, 1);
});

Deno.test("malformed or foreign gossip is refused (the mesh logs and drops it)", () => {
  const c = new SimCluster(parseCidr("10.52.0.0/24"), [{ kind: "seed", members: [A] }], random);
  const a = c.peers[0].alloc;
  const enc = new TextEncoder();
  assert.throws(() => a.onGossip(B, enc.encode("{not json")));
  assert.throws(() => a.onGossip(B, enc.encode(JSON.stringify({ v: 2, range: "x", free: 3 }))));
  // A peer of the previous format is told to upgrade (a rolling upgrade does not interoperate).
  assert.throws(
    () => a.onGossip(B, enc.encode(JSON.stringify({ v: 1, range: "10.52.0.0/24", free: {} }))),
    /format 1, this peer speaks 2: upgrade every peer/,
  );
  assert.throws(
    () =>
      a.onGossip(
        B,
        enc.encode(JSON.stringify({
          v: 2,
          range: "10.52.0.0/24",
          ring: { seed: "s", entries: [[1, "", 0, 0, "", ""]] },
          free: {},
        })),
      ),
    /malformed ring entries/,
  );
  assert.throws(
    () => a.onGossip(B, encodeGossip({ v: 2, range: "10.99.0.0/24", free: {} })),
    /peer uses IP range 10\.99\.0\.0\/24, this peer 10\.52\.0\.0\/24/,
  );
  const before = JSON.stringify(a.ring.state());
  assert.throws(() => a.onUnicast(B, enc.encode('{"t":"give"}')));
  assert.equal(JSON.stringify(a.ring.state()), before);
});

Deno.test("a free-space hint counts only from its own peer (a forged 'none left' is ignored)", () => {
  const [, , C] = SimCluster.names(3);
  const c = new SimCluster(
    parseCidr("10.53.0.0/24"),
    [{ kind: "seed", members: [A] }, { kind: "observer" }],
    random,
  );
  c.quiesce();
  const o = c.peers[1].alloc;
  // A third peer claims A has nothing left, stamped far ahead: o would never ask A again.
  const forged = encodeGossip({ v: 2, range: "10.53.0.0/24", free: { [A]: [1e15, 0] } });
  assert.equal(o.onGossip(C, forged), null);
  const first = o.allocate(k("c1"));
  assert.ok(!first.ok && "wait" in first && /asked .* for space/.test(first.wait));
  // Negative control: the same hint from A itself is taken (A really has nothing to give).
  o.onGossip(A, forged);
  c.now += 10_000;
  o.tick();
  const second = o.allocate(k("c2"));
  assert.ok(!second.ok && "wait" in second);
  assert.match(second.wait, /no free addresses left/);
});

Deno.test("a ring persisted in format 1 (unsigned) is read; this peer re-signs its own tokens", () => {
  const [, , C] = SimCluster.names(3);
  // As main wrote it before signed tokens: [start, owner, version, takeover]; tokens A and B
  // changed since the initial split (version 1).
  const base = 0x0a360000;
  const v1 = JSON.stringify({
    ring: {
      seed: `${A},${B}`,
      entries: [[base, A, 0, 0], [base + 64, A, 1, 0], [base + 128, B, 1, 0], [
        base + 192,
        B,
        0,
        0,
      ]],
    },
    paxos: null,
  });
  const meta = decodeMeta(v1);
  assert.equal(meta.ring!.entries[1].sig, "");
  const keyring = new TestKeyring();
  const mk = (self: string) =>
    new Allocator({
      self,
      range: parseCidr("10.54.0.0/24"),
      init: { kind: "seed", members: [A, B] },
      persist: { saveMeta() {}, putAllocation() {}, deleteAllocations() {} },
      signer: keyring.view(self),
      now: () => 0,
      random,
      restored: { meta: decodeMeta(v1), allocations: [] },
    });
  const a = mk(A);
  assert.equal(a.ring.ownerOf(base + 100), A);
  const own = a.ring.entries().find((e) => e.start === base + 64)!;
  assert.equal(own.author, A);
  assert.notEqual(own.sig, "", "A re-signed its own token");
  // What A sends carries only states a receiver can check: B's unsigned token stays home.
  const sent = a.ring.state()!;
  assert.ok(sent.entries.every((e) => e.sig !== "" || e.version === 0));
  // A peer of format 2 that missed A's donation follows A's own re-signed state.
  const c = new Allocator({
    self: C,
    range: parseCidr("10.54.0.0/24"),
    init: { kind: "observer" },
    persist: { saveMeta() {}, putAllocation() {}, deleteAllocations() {} },
    signer: keyring.view(C),
    now: () => 0,
    random,
  });
  c.onGossip(A, a.fullState());
  assert.equal(c.ring.ownerOf(base + 100), A);
  // B's unsigned state is not taken from A's word: C holds the initial split there until B's own.
  const atB = c.ring.entries().find((e) => e.start === base + 128)!;
  assert.deepEqual([atB.owner, atB.version], [B, 0]);
});
