/**
 * Property tests: random histories of 2–8 simulated peers (allocate, release, claim, GC, space
 * donation, partitions and heals, crashes and restarts, rmpeer of dead peers), half of them with a
 * Byzantine peer sending self-signed and forged ring states (byzantine.ts), with the IPAM safety
 * invariants checked after every step: no address allocated twice, no two peers owning one
 * address, no live allocation lost but by its own release or GC, no conflict reported, and after a
 * heal every peer's view the same. 100,000 steps by default (about 12 s of CPU here);
 * IPAM_SIM_STEPS raises the budget for a soak run (e.g. IPAM_SIM_STEPS=1000000).
 * Negative control: `forgedWouldHaveWon` counts forgeries a join without signatures and ownership
 * rules would have applied (checked > 0), so a pass is the rules refusing them.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { parseCidr } from "../../net/addr/mod.ts";
import { reservedOf } from "../../net/ipam/allocations.ts";
import type { InitMode } from "../../net/ipam/types.ts";
import { Byzantine, FORGERY_KINDS } from "./byzantine.ts";
import { SimCluster, type SimPeer } from "./sim.ts";

type Action =
  | { t: "alloc"; p: number; k: number; sub: boolean }
  | { t: "release"; p: number; k: number }
  | { t: "claim"; p: number; k: number; off: number }
  | { t: "gc"; p: number; keep: number }
  | { t: "deliver"; n: number }
  | { t: "tick"; dt: number }
  | { t: "partition"; groups: number[] }
  | { t: "heal" }
  | { t: "restart"; p: number }
  | { t: "kill"; p: number }
  | { t: "revive"; p: number }
  | { t: "rmpeer"; p: number; d: number }
  | { t: "forge"; p: number; kind: number; x: number; y: number };

const KEYS = 48;
const idx = fc.nat(7);
const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 30,
    arbitrary: fc.record({
      t: fc.constant("alloc"),
      p: idx,
      k: fc.nat(KEYS - 1),
      sub: fc.boolean(),
    }),
  },
  { weight: 10, arbitrary: fc.record({ t: fc.constant("release"), p: idx, k: fc.nat(KEYS - 1) }) },
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant("claim"),
      p: idx,
      k: fc.nat(KEYS - 1),
      off: fc.nat(255),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("gc"), p: idx, keep: fc.nat(KEYS) }) },
  {
    weight: 30,
    arbitrary: fc.record({ t: fc.constant("deliver"), n: fc.integer({ min: 1, max: 8 }) }),
  },
  {
    weight: 8,
    arbitrary: fc.record({ t: fc.constant("tick"), dt: fc.integer({ min: 1, max: 1500 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant("partition"),
      groups: fc.array(fc.nat(2), { minLength: 1, maxLength: 8 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("heal") }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("restart"), p: idx }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("kill"), p: idx }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("revive"), p: idx }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("rmpeer"), p: idx, d: idx }) },
  {
    weight: 10,
    arbitrary: fc.record({
      t: fc.constant("forge"),
      p: idx,
      kind: fc.nat(FORGERY_KINDS - 1),
      x: fc.nat(1 << 20),
      y: fc.nat(1 << 20),
    }),
  },
) as fc.Arbitrary<Action>;

interface Scenario {
  peers: number;
  prefix: number;
  mode: "seed" | "consensus";
  observers: number;
  /** A Byzantine peer sends forgeries (byzantine.ts); without one, "forge" does nothing. */
  byzantine: boolean;
}

const scenario: fc.Arbitrary<Scenario> = fc.record({
  peers: fc.integer({ min: 2, max: 8 }),
  prefix: fc.integer({ min: 24, max: 27 }),
  mode: fc.constantFrom("seed" as const, "consensus" as const),
  observers: fc.nat(2),
  byzantine: fc.boolean(),
});

function initModes(s: Scenario): InitMode[] {
  const observers = Math.min(s.observers, s.peers - 1);
  const members = SimCluster.names(s.peers - observers);
  return Array.from({ length: s.peers }, (_, i): InitMode => {
    if (i >= s.peers - observers) return { kind: "observer" };
    return s.mode === "seed"
      ? { kind: "seed", members }
      : { kind: "consensus", expected: members.length };
  });
}

const key = (k: number) => ({ id: `c${k % (KEYS / 2)}`, ifname: k < KEYS / 2 ? "eth0" : "net1" });

/** The invariants, checked after every step. */
function checkInvariants(c: SimCluster): void {
  const present = c.peers.filter((p) => !p.removed);
  // No two live allocations anywhere share an address; each lies in its peer's own space.
  const seen = new Map<number, string>();
  for (const p of present) {
    for (const a of p.alloc.allocations()) {
      const other = seen.get(a.ip);
      assert.equal(other, undefined, `address ${a.ip} allocated on ${other} and ${p.name}`);
      seen.set(a.ip, p.name);
      assert.equal(p.alloc.ring.ownerOf(a.ip), p.name, `${p.name} allocated outside its space`);
    }
  }
  // No two peers believe they own the same address.
  const owned = present.flatMap((p) => p.alloc.ring.ownedBy(p.name).map((s) => ({ ...s })))
    .sort((a, b) => a.start - b.start);
  for (let i = 1; i < owned.length; i++) {
    assert.ok(
      owned[i].start >= owned[i - 1].end,
      `${owned[i - 1].owner} and ${owned[i].owner} both own ${owned[i].start}`,
    );
  }
  // In the join of all states every address has exactly one owner, and it agrees with what each
  // peer believes it owns.
  const join = c.joinedRing();
  if (join.initialised) {
    const total = [...join.shares().values()].reduce((a, b) => a + b, 0);
    assert.equal(total, join.size);
    for (const s of owned) {
      for (const j of join.segments()) {
        if (j.end > s.start && j.start < s.end) {
          assert.equal(j.owner, s.owner, `join gives ${j.start} to ${j.owner}, not ${s.owner}`);
        }
      }
    }
  }
  for (const p of c.live()) {
    if (p.alloc.ring.initialised) assert.equal(p.alloc.ring.entries()[0].start, p.alloc.ring.start);
    // E.g. losing allocated space to another peer: never in a correct history.
    assert.deepEqual(p.alloc.conflicts.list(), [], `${p.name} reported a conflict`);
  }
}

function checkAgreement(c: SimCluster): void {
  const live = c.live();
  // The views (each token's state) agree; the extra signed states peers keep may differ.
  const short = (p: SimPeer) =>
    p.alloc.ring.entries().map((e) =>
      `${e.start % 4096}:${e.owner.slice(-2)}v${e.version}${e.takeover ? "t" : ""}/${
        e.author.slice(-2)
      }`
    ).join(" ");
  const rings = live.map(short);
  assert.ok(
    rings.every((r) => r === rings[0]),
    `after heal, live peers disagree on ownership:\n${
      live.map((p, i) => `${p.name.slice(-2)}: ${rings[i]}`).join("\n")
    }`,
  );
}

/** What the histories exercised, so the test cannot pass vacuously. */
export const stats = {
  allocated: 0,
  waited: 0,
  claimed: 0,
  donations: 0,
  restarts: 0,
  takenOver: 0,
  forged: 0,
  /** Forgeries a join without signatures and ownership rules would have applied. */
  forgedWouldHaveWon: 0,
  refused: 0,
};

/** Every peer's allocations (key → address), to check none is lost but by release or GC. */
function holdings(c: SimCluster): Map<string, Map<string, number>> {
  return new Map(
    c.peers.filter((p) => !p.removed).map((p) => [
      p.name,
      new Map(p.alloc.allocations().map((a) => [`${a.id} ${a.ifname}`, a.ip])),
    ]),
  );
}

function run(s: Scenario, actions: Action[], seed: number): void {
  let rnd = seed >>> 0 || 1;
  const random = () => {
    rnd = (Math.imul(rnd, 1664525) + 1013904223) >>> 0;
    return rnd / 2 ** 32;
  };
  const range = parseCidr(`10.9.${(seed & 3) * 64}.0/${s.prefix}`);
  const c = new SimCluster(range, initModes(s), random);
  const reserved = reservedOf(c.peers[0].alloc.range);
  const pick = (i: number) => c.peers[i % c.peers.length];
  const sizeOfRange = 2 ** (32 - s.prefix);
  const byz = s.byzantine ? new Byzantine(c) : null;
  for (const a of actions) {
    const held = holdings(c);
    switch (a.t) {
      case "alloc": {
        const p = pick(a.p);
        if (!p.alive) break;
        const start = p.alloc.range.ip;
        const sub = a.sub ? { ip: start + sizeOfRange / 2, prefix: s.prefix + 1 } : undefined;
        const had = p.alloc.lookup(key(a.k));
        const r = p.alloc.allocate(key(a.k), sub);
        if (!r.ok && "wait" in r) stats.waited++;
        if (r.ok && !had) stats.allocated++;
        if (r.ok) {
          assert.ok(!reserved.has(r.ip), "allocated a reserved address");
          if (sub) assert.ok(r.ip >= sub.ip && r.ip < sub.ip + sizeOfRange / 2, "outside subnet");
          const again = p.alloc.allocate(key(a.k), sub);
          assert.ok(again.ok && again.ip === r.ip, "allocation is not idempotent");
        }
        break;
      }
      case "release": {
        const p = pick(a.p);
        if (!p.alive) break;
        p.alloc.release(key(a.k));
        assert.equal(p.alloc.lookup(key(a.k)), undefined);
        break;
      }
      case "claim": {
        const p = pick(a.p);
        if (!p.alive) break;
        const ip = p.alloc.range.ip + (a.off % sizeOfRange);
        const k = key(a.k);
        const holder = p.alloc.allocations().find((x) => x.ip === ip);
        const mine = p.alloc.lookup(k);
        const r = p.alloc.claim(k, ip);
        if (reserved.has(ip)) {
          assert.ok(!r.ok && "status" in r, "claimed a reserved address");
        } else if (holder && holder.id === k.id && holder.ifname === k.ifname) {
          assert.ok(r.ok, "re-claim by the holder failed");
        } else if (holder || mine) {
          assert.ok(!r.ok && "status" in r, "claim of a held address or by a holding key");
        } else if (!p.alloc.ready) {
          assert.ok(!r.ok && "wait" in r);
        } else {
          const expect = p.alloc.ring.ownerOf(ip) === p.name;
          assert.equal(r.ok, expect, `claim of ${ip} on ${p.name}: ${JSON.stringify(r)}`);
          if (r.ok) stats.claimed++;
        }
        break;
      }
      case "gc": {
        const p = pick(a.p);
        if (!p.alive) break;
        const keep = new Set(Array.from({ length: a.keep }, (_, i) => `c${i}`));
        p.alloc.releaseExcept(keep, new Set());
        for (const x of p.alloc.allocations()) assert.ok(keep.has(x.id));
        break;
      }
      case "deliver":
        c.deliver(a.n);
        break;
      case "tick":
        c.now += a.dt;
        c.tickAll();
        break;
      case "partition":
        c.partition(a.groups);
        break;
      case "heal":
        c.heal();
        c.quiesce();
        checkAgreement(c);
        break;
      case "restart": {
        const p = pick(a.p);
        if (!p.alive) break;
        const before = JSON.stringify(p.alloc.allocations().sort((x, y) => x.ip - y.ip));
        c.restart(p);
        stats.restarts++;
        const after = JSON.stringify(p.alloc.allocations().sort((x, y) => x.ip - y.ip));
        assert.equal(after, before, "a restarted peer lost or changed allocations");
        break;
      }
      case "kill": {
        const p = pick(a.p);
        if (p.alive && c.live().length > 1) c.kill(p);
        break;
      }
      case "revive": {
        const p = pick(a.p);
        if (!p.alive && !p.removed) c.restart(p);
        break;
      }
      case "forge":
        byz?.forge(pick(a.p), a.kind, a.x, a.y);
        break;
      case "rmpeer": {
        const p = pick(a.p), d = pick(a.d);
        if (!p.alive || p === d) break;
        if (d.alive) {
          // A live peer is refused.
          c.heal();
          const r = p.alloc.rmpeer(d.name);
          assert.ok(!r.ok && r.status === 409, "rmpeer of a reachable peer was not refused");
          break;
        }
        if (d.removed) break;
        // The operator removes a dead peer on one survivor once the others are up and connected
        // (a peer that is down may hold a donation from the dead one that nobody else knows of).
        for (const q of c.peers) if (q !== d && !q.alive && !q.removed) c.restart(q);
        c.heal();
        c.quiesce();
        const share = p.alloc.ring.initialised ? (p.alloc.ring.shares().get(d.name) ?? 0) : 0;
        if (p.alloc.ring.initialised && !p.alloc.ring.mayTakeOver(p.name)) {
          // An observer without space: the others would not follow its takeover; refused.
          const no = p.alloc.rmpeer(d.name);
          assert.ok(!no.ok && no.status === 409, "rmpeer on a peer without space was accepted");
          break;
        }
        const r = p.alloc.rmpeer(d.name);
        assert.ok(r.ok, JSON.stringify(r));
        assert.equal(r.taken, share, "rmpeer reported a wrong number of addresses");
        stats.takenOver += r.taken;
        d.removed = true;
        break;
      }
    }
    checkInvariants(c);
    // No live allocation is lost or moved, but by its own peer's release or GC.
    for (const [name, before] of held) {
      const p = c.peer(name)!;
      if ((a.t === "release" || a.t === "gc") && pick(a.p) === p) continue;
      const now = new Map(p.alloc.allocations().map((x) => [`${x.id} ${x.ifname}`, x.ip]));
      for (const [k, ip] of before) {
        assert.equal(now.get(k), ip, `${name} lost allocation ${k} (${ip}) in a ${a.t} step`);
      }
    }
  }
  c.heal();
  c.quiesce();
  checkAgreement(c);
  checkInvariants(c);
  stats.donations += c.donations;
  if (byz) {
    stats.forged += byz.stats.sent;
    stats.forgedWouldHaveWon += byz.stats.wouldHaveWon;
    for (const p of c.peers) for (const n of p.alloc.refused.values()) stats.refused += n;
  }
  assert.deepEqual(c.problems, [], "peers reported conflicts");
  // Once initialised and connected, every live peer that wants space can get some.
  for (const p of c.live() as SimPeer[]) assert.equal(p.alloc.ready, c.live()[0].alloc.ready);
}

const STEPS = Number(Deno.env.get("IPAM_SIM_STEPS") ?? 100_000);
const PER_RUN = 400;

export { action, run, scenario };
Deno.test("IPAM safety over random histories of 2-8 peers, half of them with a Byzantine peer", () => {
  let steps = 0;
  fc.assert(
    fc.property(
      scenario,
      fc.array(action, { minLength: PER_RUN, maxLength: PER_RUN }),
      fc.nat(),
      (s, actions, seed) => {
        steps += actions.length;
        run(s, actions, seed);
      },
    ),
    { numRuns: Math.ceil(STEPS / PER_RUN), endOnFailure: true },
  );
  assert.ok(steps >= STEPS, `only ${steps} steps`);
  console.log(`${steps} steps:`, stats);
  if (STEPS >= 10_000) {
    for (const [k, v] of Object.entries(stats)) assert.ok(v > 0, `no history exercised ${k}`);
  }
});
