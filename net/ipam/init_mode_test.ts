import assert from "node:assert/strict";
import { IpamConfigError, parseInit } from "./init_mode.ts";

Deno.test("--ipalloc-init: every form, and errors that say what is accepted", () => {
  assert.deepEqual(parseInit("consensus", 3), { kind: "consensus", expected: 3 });
  assert.deepEqual(parseInit("consensus", 0), { kind: "consensus", expected: 1 });
  assert.deepEqual(parseInit("consensus=5", 3), { kind: "consensus", expected: 5 });
  assert.deepEqual(parseInit("observer", 3), { kind: "observer" });
  assert.deepEqual(parseInit("seed=AA:00:00:00:00:01, aa:00:00:00:00:02", 1), {
    kind: "seed",
    members: ["aa:00:00:00:00:01", "aa:00:00:00:00:02"],
  });
  assert.throws(() => parseInit("seed=node1", 1), /seed: "node1" is not a peer name/);
  assert.throws(() => parseInit("consensus=0", 1), IpamConfigError);
  assert.throws(() => parseInit("quorum", 1), /must be consensus, consensus=N, seed=NAME/);
});
