/**
 * Issue 13, the forged-datagram suite: from a non-peer namespace on the underlay, datagrams to a
 * node's userspace path (UDP 6783) — the two-fragment overflow, fast-check-generated corruptions
 * of every fragment-header field (10k datagrams), replays of captured datagrams, huge fragment
 * counts — first unencrypted (peer names are public), then encrypted with the sender name and key
 * id read from one captured datagram. After each: the victim's pods still receive traffic from
 * both other nodes, no rx Worker stayed dead (a restart shows in
 * weavets_sleeve_worker_restarts_total), and its RSS grew < 50 MB.
 * The forgeries carry peer n2's source address and port, forged in raw packets: the input
 * allow-list admits only peers' addresses to the data ports, and an attacker on the segment forges
 * one as easily, so the receive path itself must hold (the allow-list is tested in
 * tests/attack/allowlist_test.ts). Negative control: the victim's datagram counter shows the
 * forgeries arrived at the rx Worker (it counts every datagram before parsing), so a pass is the
 * hardening's doing.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { Cluster, Pod } from "../../cli/demo/cluster.ts";
import { inNetns, listLinks } from "../../net/linux/mod.ts";
import { IS_ROOT } from "../harness/netns.ts";
import { withCluster } from "../e2e/e2e.ts";
import {
  type Attacker,
  daemonPid,
  metric,
  METRICS_ARGS,
  reaches,
  rssBytes,
  sleep,
  watchStatus,
  withAttacker,
} from "./attacker.ts";
import { allPending, attackStep } from "./pending.ts";
import {
  captureUdp,
  fragment,
  nameBytes,
  pings,
  sendDatagrams,
  type SleeveStats,
  sleeveStats,
  type Spoof,
  statsDelta,
  withLead,
} from "./sleeve_attack.ts";

const MB = 1 << 20;
const FUZZ_DATAGRAMS = Number(Deno.env.get("WEAVETS_ATTACK_FUZZ") ?? 10_000);
type Node = Cluster["nodes"][number];

interface Victim {
  c: Cluster;
  node: Node;
  pods: Pod[];
  /** RSS when the current step began: each step may add < 50 MB. */
  rss0: number;
}

const restartsOf = (n: Node) => metric(n, "weavets_sleeve_worker_restarts_total").catch(() => 0);

/**
 * The pods on the victim still get traffic from both other nodes; a Worker that died came back
 * within 2 s, readiness said 503 meanwhile and the metric counted it; RSS grew < 50 MB.
 */
async function unharmed(
  v: Victim,
  what: string,
  sentBefore: SleeveStats,
  sent: number,
  restartsBefore: number,
  outages: number[],
) {
  const after = await sleeveStats(v.node);
  const arrived = after.rxDatagrams - sentBefore.rxDatagrams;
  // Negative control: the rx Worker counted the forged datagrams (a dead one counts nothing
  // afterwards; then the check below fails anyway).
  assert.ok(arrived >= Math.min(sent, 2), `${what}: only ${arrived}/${sent} datagrams arrived`);
  for (const from of v.pods.filter((p) => p.node !== v.node)) {
    const ok = await reaches(v.c, from, v.pods[0], 5_000);
    assert.ok(ok, `${what}: ${from.name} no longer reaches ${v.pods[0].name} (rx Worker dead?)`);
  }
  const restarts = await restartsOf(v.node) - restartsBefore;
  if (restarts > 0) {
    console.log(`  ${what}: ${restarts} Worker restart(s); readiness outages ${outages} ms`);
    assert.ok(outages.length > 0, `${what}: a Worker restarted but readiness never said 503`);
    // Polled every 100 ms, so an outage is seen up to one poll late.
    for (const ms of outages) assert.ok(ms < 2_100, `${what}: not ready for ${ms} ms`);
  } else assert.deepEqual(outages, [], `${what}: readiness failed without a Worker restart`);
  const grew = (rssBytes(daemonPid(v.node)) - v.rss0) / MB;
  assert.ok(grew < 50, `${what}: RSS grew by ${grew.toFixed(0)} MB`);
  console.log(
    `  ${what}: ${arrived} datagrams arrived, pods reachable, RSS +${grew.toFixed(0)} MB; ` +
      `counters: ${JSON.stringify(statsDelta(sentBefore, after))}`,
  );
}

async function cluster(
  password: string | undefined,
  fn: (v: Victim, a: Attacker) => Promise<void>,
) {
  await withCluster(
    { nodes: 3, noFastdp: true, password, daemonArgs: METRICS_ARGS },
    async (c) => {
      const pods: Pod[] = [];
      for (const n of c.nodes) pods.push(await c.addPod(n, "p"));
      for (const p of pods.slice(1)) {
        assert.ok(await reaches(c, p, pods[0], 20_000), `${p.name} reaches ${pods[0].name}`);
      }
      const node = c.nodes[0];
      await withAttacker(c, (a) => fn({ c, node, pods, rss0: rssBytes(daemonPid(node)) }, a));
    },
  );
}

/**
 * Fragment 0/131 of 1000 B, then fragment 130/131 of 2000 B (the review's H1): fragment 0 opens
 * with the lead the format gives it (the total; sealed, two tags), here forged.
 */
function overflow(sender: Uint8Array, keyId: Uint8Array, flags: number, seq: number) {
  const base = { flags, sender, keyId, seq, origin: sender, dest: nameBytes(1) };
  const lead0 = withLead(131 * 1000, crypto.getRandomValues(new Uint8Array(996)));
  return [
    fragment({ ...base, index: 0, count: 131, payload: lead0 }),
    fragment({ ...base, index: 130, count: 131, payload: new Uint8Array(2000) }),
  ];
}

/** 300 first fragments of 255-fragment messages of 60 KB each (the review's L1). */
function hugeCounts(sender: Uint8Array, keyId: Uint8Array, flags: number) {
  return Array.from({ length: 300 }, (_, i) =>
    fragment({
      flags,
      sender,
      keyId,
      seq: 1000 + i,
      origin: sender,
      dest: nameBytes(1),
      index: 0,
      count: 255,
      payload: withLead(255 * 60_000, new Uint8Array(60_000 - 4)),
    }));
}

/** Every header field drawn by fast-check, names biased towards the real peers'. */
function corruptions(count: number, seed: number): Uint8Array[] {
  const name = fc.oneof(
    fc.constant(nameBytes(2)),
    fc.constant(nameBytes(3)),
    fc.constant(nameBytes(1)),
    fc.uint8Array({ minLength: 6, maxLength: 6 }),
  );
  const byte = fc.integer({ min: 0, max: 255 });
  const arb = fc.record({
    flags: fc.oneof(fc.constant(0), fc.constant(2), byte),
    sender: name,
    keyId: fc.uint8Array({ minLength: 8, maxLength: 8 }),
    seq: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 2 ** 52 })),
    origin: name,
    dest: fc.oneof(fc.constant(null), name),
    hops: byte,
    // The product's version (undefined: as the format writes it), or anything.
    byte37: fc.oneof(fc.constant(undefined), byte),
    index: fc.oneof(fc.integer({ min: 0, max: 3 }), byte),
    count: fc.oneof(fc.integer({ min: 0, max: 4 }), byte),
    payloadLen: fc.integer({ min: 0, max: 1400 }),
    lenField: fc.oneof(
      fc.constant(undefined),
      fc.integer({ min: 0, max: 65535 }),
      fc.integer({ min: 0, max: 1500 }),
    ),
  });
  return fc.sample(arb, { numRuns: count, seed }).map((f) =>
    fragment({ ...f, payload: crypto.getRandomValues(new Uint8Array(f.payloadLen)) })
  );
}

/** Datagrams of n2 → victim, captured on the underlay while n2's pod pings the victim's pod. */
function sniff(v: Victim, n: number) {
  const [, p2] = v.pods;
  return captureUdp(
    v.c,
    `udp and src host ${p2.node.underlayIp} and dst host ${v.node.underlayIp} and dst port 6783`,
    n,
    () => pings(v.c, p2, v.pods[0].ip!, n),
  );
}

/** n2's underlay address and port, forged from the attacker towards the victim. */
function spoofN2(v: Victim): Spoof {
  const dstMac = inNetns(v.node.netns, () => listLinks()).find((l) => l.name === "eth0")!.mac;
  return { ifname: "eth0", dstMac, ip: v.pods[1].node.underlayIp, port: 6783 };
}

async function step(v: Victim, a: Attacker, what: string, list: Uint8Array[], perSecond = 2000) {
  const before = await sleeveStats(v.node);
  const restarts = await restartsOf(v.node);
  v.rss0 = rssBytes(daemonPid(v.node));
  const watch = watchStatus([v.node], 100);
  const sent = await sendDatagrams(a, v.node.underlayIp, 6783, list, perSecond, spoofN2(v));
  await sleep(2_500); // a Worker that died is back by now
  const { outages } = await watch.finish();
  await unharmed(v, what, before, sent, restarts, outages.get(v.node.name) ?? []);
}

Deno.test({
  name: "attack (issue 13, non-peer, unencrypted userspace path): two-fragment overflow, " +
    `${FUZZ_DATAGRAMS} fast-check header corruptions, replays, huge counts: pods still ` +
    "receive, Workers alive, RSS < +50 MB",
  ignore: !IS_ROOT ||
    allPending(["sleeve-fuzz", "sleeve-replay", "sleeve-counts", "sleeve-overflow"]),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await cluster(undefined, async (v, a) => {
      const epoch = crypto.getRandomValues(new Uint8Array(8));
      await attackStep(
        t,
        "sleeve-fuzz",
        `${FUZZ_DATAGRAMS} fast-check header corruptions`,
        () => step(v, a, "header corruptions", corruptions(FUZZ_DATAGRAMS, 1312)),
      );
      await attackStep(t, "sleeve-replay", "50 replays of 20 captured datagrams", async () => {
        const real = await sniff(v, 20);
        assert.ok(real.length > 0, "captured n2's datagrams");
        await step(v, a, "replays", Array.from({ length: 50 }, () => real).flat());
      });
      await attackStep(
        t,
        "sleeve-counts",
        "300 first fragments of 255-fragment messages of 60 KB",
        () =>
          step(
            v,
            a,
            "huge counts",
            hugeCounts(nameBytes(2), epoch, 0),
            200,
          ),
      );
      // Last: on today's main it kills the rx Worker, which the steps above do not.
      await attackStep(
        t,
        "sleeve-overflow",
        "fragment 0/131 of 1000 B, then 130/131 of 2000 B",
        () => step(v, a, "overflow", overflow(nameBytes(2), epoch, 0, 7)),
      );
    });
  },
});

Deno.test({
  name: "attack (issue 13, encrypted userspace path, sender and key id sniffed): overflow, " +
    "replays, forged tags: pods still receive, Workers alive, RSS < +50 MB",
  ignore: !IS_ROOT ||
    allPending([
      "sleeve-replay-encrypted",
      "sleeve-fuzz-encrypted",
      "sleeve-counts-encrypted",
      "sleeve-overflow-encrypted",
    ]),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await cluster("attack-s3cret-password", async (v, a) => {
      const real = await sniff(v, 20);
      assert.ok(real.length > 0, "captured n2's datagrams");
      const h = real[0];
      const sender = h.subarray(2, 8), keyId = h.subarray(8, 16);
      assert.equal(h[1] & 1, 1, "the captured datagram is sealed");
      await attackStep(
        t,
        "sleeve-replay-encrypted",
        "50 replays of 20 captured datagrams",
        async () => {
          const st0 = await sleeveStats(v.node);
          await step(v, a, "encrypted replays", Array.from({ length: 50 }, () => real).flat());
          const st1 = await sleeveStats(v.node);
          assert.ok(st1.rxReplayed > st0.rxReplayed, "replays were refused as replays");
        },
      );
      await attackStep(
        t,
        "sleeve-fuzz-encrypted",
        "2000 corruptions with the sniffed key id",
        () =>
          step(
            v,
            a,
            "encrypted corruptions",
            corruptions(2000, 77).map((d) => {
              d.set(sender, 2);
              d.set(keyId, 8);
              return d;
            }),
          ),
      );
      await attackStep(
        t,
        "sleeve-counts-encrypted",
        "300 first fragments of 255-fragment messages of 60 KB with the sniffed key id",
        () => step(v, a, "encrypted huge counts", hugeCounts(sender, keyId, 1), 200),
      );
      await attackStep(
        t,
        "sleeve-overflow-encrypted",
        "the overflow with the sniffed key id",
        () => step(v, a, "encrypted overflow", overflow(sender, keyId, 1, 2 ** 40)),
      );
    });
  },
});
