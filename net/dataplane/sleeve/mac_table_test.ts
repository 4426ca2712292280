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
