import assert from "node:assert/strict";
import fc from "fast-check";
import { type Entry, Ring, RingConflictError, type RingState } from "./ring.ts";

const START = 1000, END = 1256;
const A = "aa:00:00:00:00:01", B = "aa:00:00:00:00:02", C = "aa:00:00:00:00:03";

const stateArb: fc.Arbitrary<RingState> = fc.uniqueArray(
  fc.record({
    start: fc.integer({ min: START, max: END - 1 }),
    owner: fc.constantFrom(A, B, C),
    version: fc.nat(3),
    takeover: fc.boolean(),
  }),
  { selector: (e: Entry) => e.start, maxLength: 12 },
).map((entries) => ({ seed: "s", entries: entries.sort((x, y) => x.start - y.start) }));

function join(...states: RingState[]): RingState {
  const r = new Ring(START, END);
  for (const s of states) r.merge(s);
  return r.state()!;
}

Deno.test("ring merge is idempotent, commutative and associative", () => {
  fc.assert(
    fc.property(stateArb, stateArb, stateArb, (a, b, c) => {
      assert.deepEqual(join(a, a), join(a));
      assert.deepEqual(join(a, b), join(b, a));
      assert.deepEqual(join(join(a, b), c), join(a, join(b, c)));
    }),
    { numRuns: 2000 },
  );
});

Deno.test("seeded split: equal shares, every address owned once", () => {
  const r = Ring.seeded(START, END, [C, A, B]);
  assert.deepEqual([...r.shares().values()], [85, 85, 86]);
  assert.equal(r.ownerOf(START), A);
  assert.equal(r.ownerOf(END - 1), C);
  assert.equal(r.ownerOf(END), null);
});

Deno.test("transfer moves only the owner's space and bumps versions", () => {
  const r = Ring.seeded(START, END, [A, B]);
  r.transfer(A, B, START + 10, START + 20);
  assert.equal(r.ownerOf(START + 9), A);
  assert.equal(r.ownerOf(START + 10), B);
  assert.equal(r.ownerOf(START + 19), B);
  assert.equal(r.ownerOf(START + 20), A);
  assert.throws(() => r.transfer(A, C, START + 15, START + 16), /not owned by/);
  const other = Ring.seeded(START, END, [A, B]);
  other.merge(r.state()!);
  assert.deepEqual(other.state(), r.state());
});

Deno.test("takeover loses against an owner-made change of the same version", () => {
  const base = Ring.seeded(START, END, [A, B, C]);
  const donor = Ring.seeded(START, END, [A, B, C]);
  donor.transfer(B, C, base.ownedBy(B)[0].start, base.ownedBy(B)[0].end);
  const rm = Ring.seeded(START, END, [A, B, C]);
  assert.equal(rm.takeover(A, B), 85);
  rm.merge(donor.state()!);
  assert.equal(rm.ownerOf(START + 100), C);
});

Deno.test("rings seeded differently refuse to merge, with what to do", () => {
  const r = Ring.seeded(START, END, [A, B]);
  assert.throws(() => r.merge(Ring.seeded(START, END, [A, C]).state()!), (e: Error) => {
    assert.ok(e instanceof RingConflictError);
    assert.match(e.message, /seeded by different peers.*delete the data dir/);
    return true;
  });
  assert.equal(r.seed, `${A},${B}`);
});
