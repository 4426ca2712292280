import assert from "node:assert/strict";
import { TestKeyring } from "../mesh/testing/keyring.ts";
import { acceptorBytes, Paxos, type RecordAuth } from "./paxos.ts";
import { PAXOS_DOMAIN, sigFromText, sigToText } from "./token.ts";

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

Deno.test("paxos: a record counts only with its participant's signature", () => {
  const keys = new TestKeyring();
  const auth = (self: string): RecordAuth => {
    const v = keys.view(self);
    return {
      sign: (name, rec) => {
        assert.equal(name, self, "a peer signs only its own record");
        return sigToText(v.sign(PAXOS_DOMAIN, acceptorBytes("10.32.0.0/12", name, rec)));
      },
      check: (name, rec) =>
        rec.sig === undefined ? "invalid" : v.verify(
          name,
          PAXOS_DOMAIN,
          acceptorBytes("10.32.0.0/12", name, rec),
          sigFromText(rec.sig),
        ),
    };
  };
  const [A, B, C] = NAMES;
  const F = "02:00:00:00:00:99";
  // F forges B's and C's records: both accepted F's ballot with a value that includes F.
  const forged = (name: string) => {
    const rec = {
      promised: [9, F] as [number, string],
      accepted: { ballot: [9, F] as [number, string], value: [A, B, C, F] },
    };
    return {
      ...rec,
      sig: sigToText(keys.key(F).sign(PAXOS_DOMAIN, acceptorBytes("10.32.0.0/12", name, rec))),
    };
  };
  const attack = { [B]: forged(B), [C]: forged(C) };
  // Negative control: without signatures the forgery decides F's value at once.
  const open = new Paxos(A, 3);
  open.merge(attack);
  assert.deepEqual(open.decided(), [A, B, C, F]);
  const a = new Paxos(A, 3, null, 2000, auth(A));
  assert.equal(a.merge(attack), false);
  assert.equal(a.refused["bad-signature"], 2);
  assert.equal(a.decided(), null);
  // The real participants' own records are taken, and they decide as usual.
  const ps = [a, new Paxos(B, 3, null, 2000, auth(B)), new Paxos(C, 3, null, 2000, auth(C))];
  for (const p of ps) for (const q of ps) if (p !== q) p.merge(q.state());
  runRounds(ps, 10);
  for (const p of ps) assert.deepEqual(p.decided(), NAMES);
});
