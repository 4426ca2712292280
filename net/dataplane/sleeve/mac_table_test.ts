import assert from "node:assert/strict";
import { MacTable } from "./mac_table.ts";

Deno.test("MacTable learns, moves and expires MAC locations", () => {
  const t = new MacTable<string>(1000);
  assert.equal(t.learn(1, "a", 0), true);
  assert.equal(t.learn(1, "a", 500), false, "refresh is not news");
  assert.equal(t.lookup(1, 1400), "a", "refreshed at 500, still valid at 1400");
  assert.equal(t.learn(1, "b", 1400), true, "a move is news");
  assert.equal(t.lookup(1, 1500), "b");
  assert.equal(t.lookup(1, 2401), undefined, "expired");
  t.learn(2, "a", 0);
  t.learn(3, "b", 0);
  t.forgetPeer("a");
  assert.equal(t.lookup(2, 1), undefined);
  assert.equal(t.lookup(3, 1), "b");
  assert.equal(t.expire(5000), 1);
  assert.equal(t.size, 0);
});

Deno.test("MacTable holds at most maxEntries: new MACs are refused while full, taken once some expire", () => {
  const t = new MacTable<string>(1000, 3);
  for (const mac of [1, 2, 3]) assert.equal(t.learn(mac, "a", 0), true);
  assert.equal(t.learn(4, "a", 10), false, "full");
  assert.equal(t.lookup(4, 10), undefined);
  assert.equal(t.learn(1, "b", 20), true, "a known MAC still moves");
  assert.equal(t.size, 3);
  // 2 and 3 expire at 1001+; the next sweep (a second after the last) makes room.
  assert.equal(t.learn(4, "a", 1500), true);
  assert.equal(t.lookup(4, 1500), "a");
  assert.ok(t.size <= 3);
});
