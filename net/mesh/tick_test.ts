/**
 * The router's timer on a fake clock: a loop that does what router.ts does with each tick (dial,
 * then feed the outcome back to the maker; run anti-entropy and forgetting), with dial outcomes
 * scripted. The wall-clock loopback tests (router_test) assert none of these times.
 */
import assert from "node:assert/strict";
import { ConnectionMaker } from "./connection_maker.ts";
import { startPeriodic } from "./periodic.ts";
import { planTick, type TickInput } from "./tick.ts";

const BACKOFF = { baseMs: 100, capMs: 400, jitter: 0.25 };
const TIMING = { antiEntropyMs: 1_000, forgetAfterMs: 2_000 };
const half = () => 0.5; // anti-entropy exactly every 1 s; backoff 12.5 % short of its step

function maker(random = () => 0) {
  return new ConnectionMaker({
    backoff: BACKOFF,
    random,
    discoveryPort: 6783,
    discoverOnlyTargetHosts: false,
    maxDiscovered: 64,
  });
}

interface Outcome {
  at: number;
  address: string;
  ok: boolean;
}

/**
 * Runs the conductor from 0 to `until` ms: every tick at the time the previous one asked for or
 * at the next dial outcome (an event, as the router's kick). A dial completes 10 ms later, as
 * `outcome(address, attempt)` says. Returns what ran when.
 */
function simulate(m: ConnectionMaker, until: number, outcome: (a: string, n: number) => boolean) {
  const dials: Array<[number, string]> = [];
  const antiEntropy: number[] = [], forget: number[] = [];
  const attempts = new Map<string, number>();
  const pending: Outcome[] = [];
  const retryAt = new Map<string, number>();
  let established = 0;
  let periodic = startPeriodic(0, TIMING, half);
  let now = 0;
  while (now <= until) {
    for (const o of pending.filter((o) => o.at <= now)) {
      pending.splice(pending.indexOf(o), 1);
      if (o.ok) {
        m.connected(o.address, `02:00:00:00:00:${o.address.slice(-6, -5)}a`);
        established++;
      } else {
        m.dialFailed(o.address, "connection refused", false, now);
        retryAt.set(o.address, m.targets().find((t) => t.address === o.address)!.retryAt!);
      }
    }
    const input: TickInput = {
      now,
      periodic,
      timing: TIMING,
      random: half,
      connLimit: 0,
      established,
      outboundPending: pending.length,
    };
    const t = planTick(m, input);
    periodic = t.periodic;
    if (t.antiEntropy) antiEntropy.push(now);
    if (t.forget) forget.push(now);
    for (const address of t.dial) {
      // Never late: the timer woke exactly when the maker said the retry was due.
      assert.equal(now, retryAt.get(address) ?? 0, `${address} dialled at its retry time`);
      dials.push([now, address]);
      const n = (attempts.get(address) ?? 0) + 1;
      attempts.set(address, n);
      pending.push({ at: now + 10, address, ok: outcome(address, n) });
    }
    assert.ok(t.wakeAt > now, `the timer moves on (at ${now})`);
    now = Math.min(t.wakeAt, ...pending.map((o) => o.at));
  }
  return { dials, antiEntropy, forget };
}

Deno.test("tick: a refused target is redialled on its backoff steps until it connects, then left alone", () => {
  const m = maker();
  m.setTargets(["10.0.0.2:6783"], "configured");
  const r = simulate(m, 5_000, (_a, n) => n >= 4);
  // Dials at 0; fails at 10, waits 100; fails at 120, waits 200; fails at 330, waits 400.
  assert.deepEqual(r.dials, [
    [0, "10.0.0.2:6783"],
    [110, "10.0.0.2:6783"],
    [320, "10.0.0.2:6783"],
    [730, "10.0.0.2:6783"],
  ]);
  assert.equal(m.targets()[0].state, "established");
  // The periodic work kept its own schedule alongside.
  assert.deepEqual(r.antiEntropy, [1_000, 2_000, 3_000, 4_000, 5_000]);
  assert.deepEqual(r.forget, [500, 1_000, 1_500, 2_000, 2_500, 3_000, 3_500, 4_000, 4_500, 5_000]);
});

Deno.test("tick: the timer never sleeps past a due dial or periodic task (random outcomes and jitter)", () => {
  let seed = 7;
  const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  for (let run = 0; run < 50; run++) {
    const m = maker(random);
    const targets = Array.from({ length: 5 }, (_, i) => `10.0.0.${i + 2}:6783`);
    m.setTargets(targets, "configured");
    const r = simulate(m, 20_000, () => random() < 0.1);
    // simulate() checks each dial against its retry time; here, that there were retries.
    assert.ok(r.dials.length > targets.length, `${r.dials.length} dials`);
    for (let i = 1; i < r.antiEntropy.length; i++) {
      const gap = r.antiEntropy[i] - r.antiEntropy[i - 1];
      assert.ok(gap >= 750 && gap <= 1_250, `anti-entropy ${gap} ms apart`);
    }
    assert.equal(r.forget.length, 40, "every 500 ms");
  }
});

Deno.test("tick: dials take only the connection limit's room (established and outbound pending count)", () => {
  const base = { periodic: startPeriodic(0, TIMING, half), timing: TIMING, random: half };
  const targets = ["10.0.0.2:6783", "10.0.0.3:6783", "10.0.0.4:6783"];
  const full = maker();
  full.setTargets(targets, "configured");
  const t = planTick(full, { ...base, now: 0, connLimit: 3, established: 1, outboundPending: 1 });
  assert.equal(t.dial.length, 1, "room for one");
  assert.equal(t.wakeAt, 100, "the others wait a backoff step, and the timer wakes for them");
  assert.deepEqual(
    full.targets().filter((x) => x.state === "retrying").map((x) => x.reason),
    ["connection limit reached", "connection limit reached"],
  );
  const over = maker();
  over.setTargets(targets, "configured");
  const none = planTick(over, {
    ...base,
    now: 0,
    connLimit: 2,
    established: 2,
    outboundPending: 1,
  });
  assert.deepEqual(none.dial, [], "over the limit: no room, not negative room");
  const unlimited = maker();
  unlimited.setTargets(targets, "configured");
  const all = planTick(unlimited, {
    ...base,
    now: 0,
    connLimit: 0,
    established: 99,
    outboundPending: 9,
  });
  assert.equal(all.dial.length, 3, "0 is unlimited");
  assert.equal(all.wakeAt, 500, "nothing to retry: the periodic schedule's next (forget at 500)");
});
