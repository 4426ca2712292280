import assert from "node:assert/strict";
import { judge, type Run } from "./cri_combine.ts";

const run = (w: number, r: number, rounds = 5): Run => ({
  bin: "x",
  load: [3, 2, 1],
  samples: {
    "weavets": {
      c1: Array.from({ length: rounds }, (_, i) => [w + i, w + i]),
      c20: Array.from({ length: rounds }, () => [w, w * 2]),
    },
    "bridge+host-local": {
      c1: Array.from({ length: rounds }, (_, i) => [r + i, r + i]),
      c20: Array.from({ length: rounds }, () => [r, r * 2]),
    },
  },
});

Deno.test("cri_combine: per-round ratios of every run, judged on their median's interval", () => {
  const j = judge([run(100, 100), run(100, 100)]);
  assert.equal(j.rounds, 10);
  const p50 = j.rows[0];
  assert.equal(p50.median, 1);
  assert.equal(p50.verdict, "met");
  assert.equal(p50.addedMs, 0);
  // Negative control: weavets 1.5× slower in every round is not met, whatever the goal row.
  const slow = judge([run(150, 100)]);
  assert.ok(slow.rows.every((r) => r.verdict === undefined || r.verdict === "not met"));
  assert.equal(slow.rows[1].addedMs, 50);
  // Half the rounds under, half over the goal: not distinguishable.
  const mixed = judge([run(100, 100, 3), run(140, 100, 3)]);
  assert.equal(mixed.rows[1].verdict, "not distinguishable at this noise");
});
