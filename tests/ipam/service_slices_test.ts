/**
 * The daemon's IPAM service takes a large ring in deferred slices (net/ipam/ring_slices.ts, the
 * service's setTimeout deferral): a peer of a 2,000-peer cluster gets the whole ring from one
 * neighbour's message without another; stop() in the middle of it stops the slices (checked by hand
 * against a stop() that does not: the next slice fails on the closed store and logs it).
 */
import assert from "node:assert/strict";
import { Registry } from "../../net/api/metrics.ts";
import { Logger } from "../../net/log.ts";
import { createIpam } from "../../net/ipam/component.ts";
import type { IpamService } from "../../net/ipam/service.ts";
import { FakeNetwork } from "../../net/ipam/testing/fake_mesh.ts";
import { bigRing } from "./big_ring.ts";

const lines: string[] = [];
const log = new Logger({ sink: { write: (l: string) => void lines.push(l) }, json: true });
const big = bigRing();

async function until(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function setup(datadir: string) {
  const net = new FakeNetwork();
  // A neighbour whose whole state is the big ring (its keys are the keyring's: the same names).
  const neighbour = net.join(big.names[1], "n1");
  neighbour.channel("ipam", {
    fullState: () => big.bytes,
    onGossip: () => null,
    onUnicast: () => {},
  });
  return createIpam({
    range: "10.32.0.0/12",
    init: `seed=${big.names.join(",")}`,
    expectedPeers: 1,
    datadir,
    mesh: net.join(big.names[7], "n7"),
    registry: new Registry(),
    log,
    tickMs: 50,
  });
}

Deno.test("service: a 2,000-peer ring from one message is taken in by deferred slices", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ipam-slices-" });
  let svc: IpamService | null = null;
  try {
    svc = setup(dir);
    await until("the whole ring", () => svc!.ringEntries().length === big.entries.length);
  } finally {
    svc?.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("service: stop() in the middle of the slices: no slice runs after it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ipam-slices-" });
  let svc: IpamService | null = null;
  try {
    svc = setup(dir);
    const s = svc;
    await until("the first slice", () => s.ringEntries().length > big.names.length);
    const seen = s.ringEntries().length;
    assert.ok(seen < big.entries.length, `all ${seen} in one turn: nothing was deferred`);
    s.stop();
    lines.length = 0;
    // Slices that were due would have run by now (pauses are 50 ms at most), on the closed store.
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(lines.filter((l) => l.includes('"error"')), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
