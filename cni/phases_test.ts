import assert from "node:assert/strict";
import { phaseClock } from "./phases.ts";

Deno.test("phaseClock: each phase is the time since the previous mark; repeats add up", () => {
  const times = [100, 103.04, 110, 111.5, 130];
  const clock = phaseClock(() => times.shift()!);
  clock.mark("netns");
  clock.mark("ipam");
  clock.mark("netns");
  clock.mark("veth");
  assert.deepEqual(clock.phases(), { netns: 4.5, ipam: 7, veth: 18.5 });
});

Deno.test("phaseClock: nothing marked, nothing reported", () => {
  assert.deepEqual(phaseClock(() => 0).phases(), {});
});
