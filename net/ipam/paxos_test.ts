import assert from "node:assert/strict";
import { TestKeyring } from "../mesh/testing/keyring.ts";
import { type Acceptor, acceptorBytes, Paxos, type RecordAuth } from "./paxos.ts";
import { MAX_VERIFY_PER_MERGE, PAXOS_DOMAIN, sigFromText, sigToText } from "./token.ts";

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

Deno.test("paxos: one merge checks at most MAX_VERIFY_PER_MERGE signatures, and stops when its time is up", () => {
  const keys = new TestKeyring();
  const names = Array.from(
    { length: 600 },
    (_, i) =>
      `ab:00:00:00:${(i >> 8).toString(16).padStart(2, "0")}:${
        (i & 255).toString(16).padStart(2, "0")
      }`,
  );
  const v = keys.view(names[0]);
  let checks = 0;
  const auth: RecordAuth = {
    sign: (name, rec) => sigToText(v.sign(PAXOS_DOMAIN, acceptorBytes("10.32.0.0/12", name, rec))),
    check: (name, rec) => {
      checks++;
      return v.verify(
        name,
        PAXOS_DOMAIN,
        acceptorBytes("10.32.0.0/12", name, rec),
        sigFromText(rec.sig!),
      );
    },
  };
  const state: Record<string, Acceptor> = {};
  for (const n of names.slice(1)) {
    const rec = { promised: [1, n] as [number, string], accepted: null };
    state[n] = {
      ...rec,
      sig: sigToText(keys.key(n).sign(PAXOS_DOMAIN, acceptorBytes("10.32.0.0/12", n, rec))),
    };
  }
  const p = new Paxos(names[0], 600, null, 2000, auth);
  assert.equal(p.merge(state), true);
  assert.equal(checks, MAX_VERIFY_PER_MERGE);
  // The rest come with the next messages; what is known is not checked again.
  p.merge(state);
  p.merge(state);
  assert.equal(checks, 599);
  assert.equal(p.known(), 600);
  // A time budget: after the first check, stop.
  const q = new Paxos(names[0], 600, null, 2000, auth);
  checks = 0;
  q.merge(state, { stop: () => true });
  assert.equal(checks, 1);
  // Negative control: without a signer (unit tests of the algorithm) nothing limits a merge.
  const open = new Paxos(names[0], 600);
  open.merge(state);
  assert.equal(open.known(), 600);
});
