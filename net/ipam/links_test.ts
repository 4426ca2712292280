import assert from "node:assert/strict";
import { TestKeyring } from "../mesh/testing/keyring.ts";
import { admissible, LinkStore, MAX_KEPT_STATES, type MergeReport } from "./links.ts";
import { Ring } from "./ring.ts";
import { type Entry, type RingAuth, sigToText, TOKEN_DOMAIN, tokenBytes } from "./token.ts";
import { decodeMeta, encodeMeta, MAX_RING_ENTRIES } from "./wire.ts";

const A = "aa:00:00:00:00:01", B = "aa:00:00:00:00:02";
const state = (start: number, author = A, version = 1): Entry => ({
  start,
  owner: author,
  version,
  takeover: false,
  author,
  sig: "x".repeat(86),
});
const report = (): MergeReport => ({ changed: false, refused: {}, takenFromSelf: [], deferred: 0 });

Deno.test("links: the store keeps MAX_KEPT_STATES at most — what one IPAM message list carries", () => {
  assert.equal(MAX_KEPT_STATES, MAX_RING_ENTRIES);
  const links = new LinkStore();
  for (let i = 0; i < MAX_KEPT_STATES - 1; i++) assert.ok(links.store(state(i)));
  assert.equal(links.size, MAX_KEPT_STATES - 1);
  assert.ok(links.store(state(0, A, 2)), "a replacement does not grow it");
  assert.equal(links.size, MAX_KEPT_STATES - 1);
  assert.ok(links.store(state(0, B)), "the last place");
  assert.equal(links.store(state(1, B)), false, "full: nothing more is kept");
  assert.equal(links.size, MAX_KEPT_STATES);
  assert.equal(links.get(1)?.has(B), false);
  assert.ok(links.store(state(5, A, 7)), "full, a replacement still comes in");
  assert.equal(links.get(5)?.get(A)?.version, 7);
});

Deno.test("links: received states that would overfill the store are refused and counted", () => {
  const range = { start: 0, end: 1 << 20 };
  const links = new LinkStore();
  for (let i = 0; i < MAX_KEPT_STATES - 2; i++) links.store(state(i));
  // Room for two more: the first two new (start, author) pairs — a repeated one counts once —
  // then refusals; a newer version of a kept state is not a new one.
  const rep = report();
  const incoming = [
    state(900_000, B),
    state(900_000, B, 2),
    state(900_001, B),
    state(900_002, B),
    state(900_003, B),
    state(7, A, 3),
  ];
  const out = admissible({ entries: incoming }, range, links, () => false, rep);
  assert.deepEqual(out.map((e) => [e.start, e.version]), [[900_000, 1], [900_000, 2], [
    900_001,
    1,
  ], [7, 3]]);
  assert.deepEqual(rep.refused, { "store-full": 2 });
  // Control: with room, none of them is refused.
  const roomy = report();
  assert.equal(
    admissible({ entries: incoming }, range, new LinkStore(), () => false, roomy).length,
    6,
  );
  assert.deepEqual(roomy.refused, {});
});

Deno.test("links: a member splitting its space into more tokens than a message carries fills the store, is refused, and the ring still sends and persists", () => {
  const keys = new TestKeyring();
  const auth = (self: string): RingAuth => {
    const v = keys.view(self);
    return {
      self,
      sign: (p) => v.sign(TOKEN_DOMAIN, p),
      verify: (a, p, s) => v.verify(a, TOKEN_DOMAIN, p, s),
      reachable: () => true,
    };
  };
  const end = 1 << 17;
  const genesis = Ring.seeded(0, end, [A, B]);
  const forger = genesis.ownedBy(A)[0];
  const extra = 500;
  const forged: Entry[] = [];
  for (let i = 1; forged.length < MAX_KEPT_STATES + extra; i++) {
    const body = { start: forger.start + i, owner: A, version: 1, takeover: false, author: A };
    const sig = keys.key(A).sign(TOKEN_DOMAIN, tokenBytes(genesis.scope, body));
    forged.push({ ...body, sig: sigToText(sig) });
  }
  const r = new Ring(0, end, auth(B));
  const rep = r.merge({ seed: genesis.seed!, entries: [...genesis.entries(), ...forged] }, A, {
    maxChecks: Infinity,
  });
  const s = r.state()!;
  assert.ok(s.entries.length <= MAX_RING_ENTRIES && s.links!.length <= MAX_RING_ENTRIES);
  // What it persists it reads back at its next start (before: a zod error, no start).
  assert.equal(
    decodeMeta(encodeMeta({ ring: s, paxos: null })).ring!.entries.length,
    s.entries.length,
  );
  assert.ok((rep.refused["store-full"] ?? 0) >= extra, JSON.stringify(rep.refused));
});
