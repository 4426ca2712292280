/**
 * The whole mesh conductor (router, control port, connections, handshakes, gossip) on virtual
 * time and an in-memory network (testing/virtual.ts): deterministic, so timing is asserted to
 * the virtual millisecond and the same script gives the same trace twice. No sockets, no root,
 * no wall-clock waits. router_test keeps the few facts only real sockets show.
 */
import assert from "node:assert/strict";
import { backoffDelay } from "./backoff.ts";
import { forgetPeriod } from "./periodic.ts";
import { livenessTickMs } from "./liveness.ts";
import {
  addr,
  fullMesh as full,
  ip,
  PORT,
  VIRTUAL_TIMING as TIMING,
  VirtualMeshes as World,
} from "./testing/virtual_mesh.ts";

/** a, b given a; c given b; d given c: each learns the rest by discovery. */
async function line(w: World): Promise<number> {
  const nodes = [w.node(1)];
  for (let i = 2; i <= 4; i++) nodes.push(w.node(i, { peers: [addr(i - 1)] }));
  return await w.clock.until("full mesh", () => full(nodes));
}

Deno.test("virtual mesh: a line of four given one address each forms a full mesh, the same way every run", async () => {
  const runs: Array<{ ms: number; trace: string[] }> = [];
  for (let run = 0; run < 2; run++) {
    const w = new World();
    try {
      const ms = await line(w);
      // Discovery dials the corroborated addresses, one connection per pair stays.
      for (const m of w.meshes) assert.equal(m.connectionCount(), 3);
      runs.push({ ms, trace: w.trace.filter((l) => !/listening for peers/.test(l)) });
    } finally {
      await w.stop();
    }
    assert.equal(w.clock.pending, 0, "a stopped mesh leaves no timer");
  }
  assert.ok(runs[0].ms < 1_000, `formed in ${runs[0].ms} virtual ms`);
  assert.equal(runs[1].ms, runs[0].ms, "the same virtual time");
  assert.deepEqual(runs[1].trace, runs[0].trace, "the same events at the same times");
});

Deno.test("virtual mesh: a peer not listening yet is redialled exactly on the backoff steps, then joined", async () => {
  const w = new World();
  try {
    const t0 = w.clock.now();
    const a = w.node(1, { peers: [addr(2)] });
    await w.clock.advance(1_000);
    const times = w.net.dials.filter((d) => d.to === addr(2)).map((d) => d.at - t0);
    // random() = 0.5 in the virtual runtime: each delay is 87.5 % of its step.
    const expected = [0];
    for (let i = 0; expected.at(-1)! <= 1_000; i++) {
      expected.push(expected.at(-1)! + backoffDelay(i, TIMING.backoff, () => 0.5));
    }
    assert.deepEqual(times, expected.filter((t) => t <= 1_000));
    // b starts listening: a's next retry (not sooner, not later) connects.
    const next = expected.find((t) => t > 1_000)!;
    const b = w.node(2);
    await w.clock.until("a-b", () => full([a, b]));
    assert.equal(w.net.dials.filter((d) => d.to === addr(2)).at(-1)!.at - t0, next);
  } finally {
    await w.stop();
  }
});

Deno.test("virtual mesh: a cut peer is declared dead within one liveness tick after deadMs, forgotten after the grace, redialled after the heal", async () => {
  const w = new World();
  try {
    // No anti-entropy: once the topology is exchanged, only heartbeats flow.
    const timing = { ...TIMING, antiEntropyMs: 600_000 };
    const a = w.node(1, { timing }), b = w.node(2, { timing, peers: [addr(1)] });
    await w.clock.until("a-b", () => full([a, b]));
    // Idle for a while: the connection lives on heartbeats alone (without them this fails).
    await w.clock.advance(5 * TIMING.deadMs);
    assert.ok(full([a, b]), "heartbeats keep an idle connection");
    w.net.cut(ip(1), ip(2));
    const cutAt = w.clock.now();
    await w.clock.until("a drops b", () => a.connectionCount() === 0);
    const dead = w.clock.now() - cutAt;
    // The last heartbeat before the cut arrived up to heartbeatMs earlier.
    const tick = livenessTickMs(TIMING);
    assert.ok(
      dead > TIMING.deadMs - TIMING.heartbeatMs && dead <= TIMING.deadMs + tick,
      `declared dead ${dead} ms after the cut`,
    );
    assert.equal(a.peers().find((p) => p.name === b.self)?.reachable, false);
    const unreachableAt = w.clock.now();
    await w.clock.until("a forgets b", () => a.peers().length === 1);
    const forgot = w.clock.now() - unreachableAt;
    const period = forgetPeriod(TIMING.forgetAfterMs);
    assert.ok(
      forgot >= TIMING.forgetAfterMs && forgot <= TIMING.forgetAfterMs + 2 * period,
      `forgotten ${forgot} ms after it became unreachable`,
    );
    w.net.heal(ip(1), ip(2));
    // b still has a as a configured peer: a dial in flight times out, then the next one (the
    // backoff is capped) brings it back.
    const back = await w.clock.until("a-b again", () => full([a, b]));
    const bound = TIMING.dialTimeoutMs + TIMING.backoff.capMs + 10;
    assert.ok(back <= bound, `back ${back} ms after the heal (at most ${bound})`);
  } finally {
    await w.stop();
  }
});

Deno.test("virtual mesh: a stranger's stalled socket is closed at the hello deadline, exactly", async () => {
  const w = new World();
  try {
    w.node(1);
    const conn = await w.net.host(ip(9)).connect(ip(1), PORT);
    await conn.write(new TextEncoder().encode("wea"));
    const t0 = w.clock.now();
    let closedAt = -1;
    (async () => {
      const buf = new Uint8Array(100);
      while ((await conn.read(buf)) !== null);
      closedAt = w.clock.now();
    })();
    await w.clock.until("closed", () => closedAt >= 0);
    assert.equal(
      closedAt - t0,
      TIMING.helloTimeoutMs,
      "at the hello deadline, not the handshake's",
    );
    assert.equal(w.meshes[0].counters.refusals.get("handshake-timeout"), 1);
    conn.close();
  } finally {
    await w.stop();
  }
});
