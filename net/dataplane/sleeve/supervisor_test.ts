import assert from "node:assert/strict";
import { DEFAULT_RESTART, sleeveHealth, WorkerLife } from "./supervisor.ts";

const T = { ...DEFAULT_RESTART, baseMs: 100, maxMs: 1000, stableMs: 10_000, stallMs: 5000 };

Deno.test("a Worker that ran a while is restarted at once; a crash loop backs off, capped", () => {
  const w = new WorkerLife("rx", T, 0);
  w.ready();
  assert.equal(w.died("RangeError", 60_000), 0, "after a minute's run: at once");
  const delays: number[] = [];
  let now = 60_000;
  for (let i = 0; i < 6; i++) {
    w.restarted(now);
    w.ready();
    now += 50; // dies again at once
    delays.push(w.died("boom", now));
  }
  assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000]);
  w.restarted(now);
  w.ready();
  assert.equal(w.died("boom", now + 10_000), 0, "stable again: the backoff starts over");
  assert.equal(w.restarts, 7);
});

Deno.test("readiness names the Worker that is down and why, until it reports ready", () => {
  const tx = new WorkerLife("tx", T, 0), rx = new WorkerLife("rx", T, 0);
  assert.equal(
    sleeveHealth([tx, rx]),
    "userspace path tx Worker starting; userspace path rx Worker starting",
  );
  tx.ready();
  rx.ready();
  assert.equal(sleeveHealth([tx, rx]), null);
  rx.died("RangeError: offset is out of bounds", 5000);
  assert.equal(
    sleeveHealth([tx, rx]),
    "userspace path rx Worker died (RangeError: offset is out of bounds); restarting (restart 1)",
  );
  rx.restarted(5000);
  assert.match(sleeveHealth([tx, rx])!, /restart 1\)/, "still not ready while it starts");
  rx.ready();
  assert.equal(sleeveHealth([tx, rx]), null);
});

Deno.test("a Worker without heartbeat, or never ready, counts as dead", () => {
  const w = new WorkerLife("tx", T, 0);
  assert.equal(w.overdue(0, 29_000), null, "starting: not yet");
  assert.match(w.overdue(0, 31_000)!, /not ready 31 s/);
  w.ready();
  assert.equal(w.overdue(1000, 5900), null);
  assert.match(w.overdue(1000, 7000)!, /no heartbeat for 6 s/);
  w.died("x", 7000);
  assert.equal(w.overdue(0, 100_000), null, "dead already: nothing more to say");
});
