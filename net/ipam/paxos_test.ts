import assert from "node:assert/strict";
import { Paxos } from "./paxos.ts";

const NAMES = ["aa:00:00:00:00:01", "aa:00:00:00:00:02", "aa:00:00:00:00:03"];

/** Everyone hears everyone after every step, until all have decided. */
function runRounds(ps: Paxos[], rounds: number, now = 0): void {
  for (let i = 0; i < rounds; i++) {
    for (const p of ps) p.step(now);
    for (const p of ps) for (const q of ps) if (p !== q) p.merge(q.state());
    now += 100;
  }
}

Deno.test("paxos: three peers agree on one member set", () => {
  const ps = NAMES.map((n) => new Paxos(n, 3));
  for (const p of ps) for (const q of ps) if (p !== q) p.merge(q.state());
  runRounds(ps, 10);
  const values = ps.map((p) => p.decided());
  assert.deepEqual(values[0], NAMES);
  assert.deepEqual(values[1], NAMES);
  assert.deepEqual(values[2], NAMES);
});

Deno.test("paxos: no proposal below a quorum; a restarted acceptor keeps its promise", () => {
  const p = new Paxos(NAMES[0], 3);
  assert.equal(p.quorum, 2);
  assert.equal(p.step(0).changed, false);
  assert.equal(p.decided(), null);
  const q = new Paxos(NAMES[1], 3);
  p.merge(q.state());
  assert.equal(p.step(0).changed, true); // proposes
  const restarted = new Paxos(NAMES[0], 3, p.state());
  assert.deepEqual(restarted.own().promised, p.own().promised);
});

Deno.test("paxos: more participants than expected is reported and nobody proposes", () => {
  const ps = NAMES.map((n) => new Paxos(n, 2));
  for (const p of ps) for (const q of ps) if (p !== q) p.merge(q.state());
  const r = ps[0].step(0);
  assert.match(r.error ?? "", /3 peers take part .*consensus=2/);
  assert.equal(r.changed, false);
});
