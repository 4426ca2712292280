import assert from "node:assert/strict";
import { TestKeyring } from "../mesh/testing/keyring.ts";
import { Ring, RingConflictError, type RingState } from "./ring.ts";
import {
  MAX_STEP,
  MAX_VERIFY_PER_MERGE,
  type RingAuth,
  sigToText,
  TOKEN_DOMAIN,
  tokenBytes,
} from "./token.ts";

const START = 1000, END = 1256;
const A = "aa:00:00:00:00:01", B = "aa:00:00:00:00:02", C = "aa:00:00:00:00:03";
const F = "02:00:00:00:00:99"; // a made-up peer: a valid key for its own name, no space

const keys = new TestKeyring();
const down = new Set<string>();
function auth(self: string): RingAuth {
  const v = keys.view(self);
  return {
    self,
    sign: (p) => v.sign(TOKEN_DOMAIN, p),
    verify: (a, p, s) => v.verify(a, TOKEN_DOMAIN, p, s),
    reachable: (p) => !down.has(p),
  };
}
const peer = (self: string, members = [A, B, C]) => Ring.seeded(START, END, members, auth(self));
const view = (r: Ring) => JSON.stringify(r.entries());

/** A state `author` signs (with its own, valid key) for an arbitrary token. */
function forge(
  r: Ring,
  e: { start: number; owner: string; version: number; takeover?: boolean },
  author = F,
) {
  const body = { takeover: false, ...e, author };
  const sig = keys.key(author).sign(TOKEN_DOMAIN, tokenBytes(r.scope, body));
  return { ...body, sig: sigToText(sig) };
}

Deno.test("seeded split: equal shares, every address owned once", () => {
  const r = peer(A, [C, A, B]);
  assert.deepEqual([...r.shares().values()], [85, 85, 86]);
  assert.equal(r.ownerOf(START), A);
  assert.equal(r.ownerOf(END - 1), C);
  assert.equal(r.ownerOf(END), null);
});

Deno.test("transfer moves only the owner's space, signed; others follow it", () => {
  const a = peer(A), b = peer(B), c = peer(C);
  a.transfer(A, B, START + 10, START + 20);
  assert.equal(a.ownerOf(START + 9), A);
  assert.equal(a.ownerOf(START + 10), B);
  assert.equal(a.ownerOf(START + 20), A);
  assert.throws(() => a.transfer(A, C, START + 15, START + 16), /not owned by/);
  for (const r of [b, c]) {
    const rep = r.merge(a.state()!);
    assert.ok(rep.changed);
    assert.deepEqual(rep.refused, {});
    assert.equal(view(r), view(a));
  }
  // A chain of donations reaches a peer that missed the steps in between (one message, any order
  // of links: the state carries each author's latest signed state).
  b.transfer(B, C, START + 10, START + 15);
  c.merge(b.state()!);
  c.transfer(C, A, START + 10, START + 12);
  const late = peer(A);
  late.merge(c.state()!);
  assert.equal(view(late), view(c));
});

Deno.test("a made-up peer's self-signed states move nothing (the ipam-ring attack)", () => {
  const victim = peer(A);
  const before = view(victim);
  const forged: RingState = {
    seed: victim.seed!,
    entries: victim.entries().flatMap((e) => [
      forge(victim, { start: e.start, owner: F, version: e.version + 1 }),
      forge(victim, { start: e.start, owner: F, version: 2 ** 40 }),
      forge(victim, { start: e.start, owner: F, version: e.version + 1, takeover: true }),
    ]),
    links: [forge(victim, { start: START + 5, owner: F, version: 0 })], // a split inside A's
  };
  const rep = victim.merge(forged);
  assert.equal(view(victim), before);
  assert.ok((rep.refused["not-owner"] ?? 0) >= 4, JSON.stringify(rep.refused));
  assert.ok((rep.refused["version-cap"] ?? 0) >= 3, JSON.stringify(rep.refused));
  // Negative control: the same records signed by the owner (as a donation) do move the space.
  const ctl = peer(A);
  ctl.merge({
    seed: ctl.seed!,
    entries: [forge(ctl, { start: ctl.ownedBy(B)[0].start, owner: F, version: 1 }, B)],
  });
  assert.equal(ctl.ownerOf(ctl.ownedBy(F)[0].start), F);
});

Deno.test("a relay cannot alter a state: a changed field fails its signature", () => {
  const a = peer(A);
  a.transfer(A, B, START + 10, START + 20);
  const s = a.state()!;
  s.entries = s.entries.map((e) => (e.owner === B ? { ...e, owner: C } : e));
  const c = peer(C);
  const rep = c.merge(s);
  assert.equal(c.ownerOf(START + 10), A);
  assert.ok((rep.refused["bad-signature"] ?? 0) > 0);
});

Deno.test("a takeover of a live owner is refused; of an unreachable one applied", () => {
  const a = peer(A), c = peer(C);
  const t = peer(B);
  assert.equal(t.takeover(B, A), 85);
  const rep = c.merge(t.state()!);
  assert.equal(c.ownerOf(START), A, "A is reachable: its space stays A's");
  assert.ok((rep.refused["live-owner"] ?? 0) > 0);
  // A itself never gives up its own space to gossip, and says who tried.
  const own = a.merge(t.state()!);
  assert.equal(a.ownerOf(START), A);
  assert.deepEqual(own.takenFromSelf, [B]);
  down.add(A);
  c.reachabilityChanged();
  try {
    c.merge(t.state()!);
    assert.equal(c.ownerOf(START), B, "A unreachable: the kept takeover applies");
  } finally {
    down.delete(A);
  }
  // A peer without space that is no initial member cannot take over anyone.
  const f = new Ring(START, END, auth(F));
  f.merge(peer(A).state()!);
  assert.equal(f.mayTakeOver(F), false);
});

Deno.test("takeover loses against an owner-made change of the same version", () => {
  const donor = peer(B);
  const span = donor.ownedBy(B)[0];
  donor.transfer(B, C, span.start, span.end);
  down.add(B);
  try {
    const rm = peer(A);
    assert.equal(rm.takeover(A, B), 85);
    rm.merge(donor.state()!);
    assert.equal(rm.ownerOf(START + 100), C);
  } finally {
    down.delete(B);
  }
});

Deno.test("versions: a jump beyond MAX_STEP is refused; the owner's own steps are not", () => {
  const a = peer(A), c = peer(C);
  const s = a.ownedBy(A)[0].start;
  const jump = forge(a, { start: s, owner: B, version: MAX_STEP + 1 }, A);
  const rep = c.merge({ seed: a.seed!, entries: [jump] });
  assert.equal(c.ownerOf(s), A);
  assert.equal(rep.refused["version-jump"], 1);
  const step = forge(a, { start: s, owner: B, version: MAX_STEP }, A);
  c.merge({ seed: a.seed!, entries: [step] });
  assert.equal(c.ownerOf(s), B);
});

Deno.test("rings seeded differently refuse to merge, with what to do", () => {
  const r = peer(A, [A, B]);
  assert.throws(() => r.merge(peer(A, [A, C]).state()!), (e: Error) => {
    assert.ok(e instanceof RingConflictError);
    assert.match(e.message, /seeded by different peers.*delete the data dir/);
    return true;
  });
  assert.equal(r.seed, `${A},${B}`);
});

Deno.test("token signing bytes: golden vector", () => {
  const body = { start: 167772160, owner: B, version: 3, takeover: false, author: A };
  const scope = "167772160-168034304 " + "0".repeat(64);
  assert.equal(
    new TextDecoder().decode(tokenBytes(scope, body)),
    `weavets-ipam-token 2\n167772160-168034304 ${"0".repeat(64)}\n167772160\n${B}\n3\n0\n${A}`,
  );
  // The signature over it by A's test key (RFC 8032 Ed25519 is deterministic).
  assert.equal(
    sigToText(keys.key(A).sign(TOKEN_DOMAIN, tokenBytes(scope, body))),
    GOLDEN_SIG,
  );
});
const GOLDEN_SIG =
  "ifntimt5hKzxHf3ntCdT9ohMuZuhMcxJNJLtcPHmgbt5oSJC83HLCDapUEVeNKuHNOzbUy3MJkFPIVxkejqiDQ";

Deno.test("one merge checks at most MAX_VERIFY_PER_MERGE signatures; the rest come next time", () => {
  const members = Array.from(
    { length: 600 },
    (_, i) =>
      `aa:00:00:00:${(i >> 8).toString(16).padStart(2, "0")}:${
        (i & 255).toString(16).padStart(2, "0")
      }`,
  );
  const end = 1 << 16;
  const genesis = Ring.seeded(0, end, members);
  const entries = [...genesis.entries()];
  members.forEach((m, i) => {
    const s = genesis.ownedBy(m)[0];
    entries.push(
      forge(genesis, { start: s.end - 8, owner: members[(i + 1) % 600], version: 1 }, m),
    );
  });
  entries.sort((a, b) => a.start - b.start);
  const state = { seed: genesis.seed!, entries };
  const r = new Ring(0, end, auth(members[0]));
  const first = r.merge(state);
  assert.equal(first.deferred, 600 - MAX_VERIFY_PER_MERGE);
  assert.deepEqual(first.refused, {});
  let messages = 1;
  for (let rep = r.merge(state); rep.deferred > 0; rep = r.merge(state)) messages++;
  assert.equal(messages + 1, Math.ceil(600 / MAX_VERIFY_PER_MERGE));
  assert.equal(r.entries().length, 1200);
  // Nothing new: the view is not recomputed, nothing is checked.
  const third = r.merge(state);
  assert.equal(third.changed, false);
});
