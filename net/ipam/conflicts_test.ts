import assert from "node:assert/strict";
import { ConflictLog } from "./conflicts.ts";

Deno.test("conflicts: the same one is counted, not repeated; the log is bounded", () => {
  const log = new ConflictLog(2);
  assert.ok(log.report("consensus", "n", "too many peers", 1));
  assert.equal(log.report("consensus", "n", "too many peers (again)", 2), null);
  assert.deepEqual(log.list(), [{
    kind: "consensus",
    subject: "n",
    message: "too many peers (again)",
    since: 1,
    count: 2,
  }]);
  assert.ok(log.report("foreign-ring", "a", "x", 3));
  assert.equal(log.report("foreign-ring", "b", "y", 4), null, "full: not kept");
  assert.equal(log.dropped, 1);
  log.resolve("consensus", "n");
  assert.equal(log.size, 1);
  assert.ok(log.report("foreign-ring", "b", "y", 5), "room again after a resolve");
});
