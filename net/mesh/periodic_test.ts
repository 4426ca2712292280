import assert from "node:assert/strict";
import { forgetPeriod, jittered, periodicDue, startPeriodic } from "./periodic.ts";

const T = { antiEntropyMs: 30_000, forgetAfterMs: 60_000 };

Deno.test("periodic: anti-entropy every 30 s ±25 %, unreachable peers looked for every 10 s", () => {
  assert.equal(jittered(1000, () => 0), 750);
  assert.equal(jittered(1000, () => 0.5), 1000);
  assert.ok(jittered(1000, () => 0.999999) < 1250);
  assert.equal(forgetPeriod(60_000), 10_000, "capped at 10 s");
  assert.equal(forgetPeriod(1_500), 375, "a quarter of the grace");
  assert.equal(forgetPeriod(100), 50, "at least 50 ms");
});

Deno.test("periodic: on a fake clock, each task runs when due and only then", () => {
  let s = startPeriodic(1_000, T, () => 0.5);
  assert.deepEqual(s, { nextAntiEntropy: 31_000, nextForget: 11_000 });
  let d = periodicDue(s, 10_999, T, () => 0.5);
  assert.deepEqual([d.antiEntropy, d.forget, d.wakeAt], [false, false, 11_000], "nothing due yet");
  d = periodicDue(s, 11_000, T, () => 0.5);
  assert.deepEqual([d.antiEntropy, d.forget, d.wakeAt], [false, true, 21_000]);
  s = d.next;
  // Over 10 simulated minutes: anti-entropy ~20 times, the forget check 60 times.
  let ae = 0, fg = 0, now = 11_000, r = 0;
  const random = () => (r = (r + 0.37) % 1);
  while (now < 611_000) {
    now = periodicDue(s, now, T, random).wakeAt;
    d = periodicDue(s, now, T, random);
    if (d.antiEntropy) ae++;
    if (d.forget) fg++;
    assert.ok(d.antiEntropy || d.forget, "woken only when something is due");
    s = d.next;
  }
  assert.ok(ae >= 17 && ae <= 27, `${ae} anti-entropy rounds in 10 min`);
  assert.equal(fg, 60);
});
