/**
 * Issue 13, "only peers send to the data ports", on a 3-node cluster (real daemons, fast path, no
 * password) with a non-peer on the underlay: with the input allow-list the attacker's spoofed
 * VXLAN frame never reaches the pod, is counted (metric and status), and pods still ping across
 * nodes on the fast path. Negative control first, on the same cluster: with n1's daemon stopped
 * (its table removed, the kernel's VXLAN path still carrying traffic) the very same frames from
 * the attacker reach the pod. MAC learning too: off, n1's bridge learns a made-up source MAC behind
 * its VXLAN port from the attacker's frame; on, not. The daemon writes its table again when it is
 * deleted or a chain flushed from outside (its 10 s check), and a clean restart of n2 keeps the
 * peers the kernel carries traffic to.
 */
import assert from "node:assert/strict";
import { execIn } from "../../cli/demo/exec.ts";
import { Cluster, type Node } from "../../cli/demo/cluster.ts";
import { IS_ROOT } from "../harness/netns.ts";
import {
  attackCluster,
  type Attacker,
  curl,
  FASTDP_PORT,
  logMark,
  logSince,
  reaches,
} from "./attacker.ts";
import { arrivals, echoFrame, injection, vxlan } from "./injection.ts";
import { sendDatagrams } from "./sleeve_attack.ts";

async function refused(node: Node): Promise<Record<string, number>> {
  const r = await curl(node, "GET", "http://127.0.0.1:6782/metrics");
  const out: Record<string, number> = {};
  for (const m of r.body.matchAll(/^weavets_input_refused_packets_total\{port="(\w+)"\} (\d+)/gm)) {
    out[m[1]] = Number(m[2]);
  }
  return out;
}

async function nft(node: Node, script: string): Promise<string> {
  const r = await execIn(node.netns, "nft", script.split(" "), { timeoutMs: 10_000 });
  assert.equal(r.code, 0, `nft ${script} in ${node.name}: ${r.stderr}`);
  return r.stdout;
}

async function steps(t: Deno.TestContext, c: Cluster, a: Attacker): Promise<void> {
  const [n1, n2, n3] = c.nodes;
  const victim = c.pods.find((p) => p.node === n1)!;
  const spoofed = c.pods.find((p) => p.node === n2)!;
  const make = (id: number) => vxlan(echoFrame(spoofed, victim, id));
  /** A frame from a made-up MAC: where n1's bridge learns it is where it sends that MAC's frames. */
  const fromMac = (m: string, id: number) => {
    const f = echoFrame(spoofed, victim, id);
    f.set(m.split(":").map((h) => parseInt(h, 16)), 6);
    return vxlan(f);
  };
  const randomMac = () =>
    "02:" +
    Array.from(crypto.getRandomValues(new Uint8Array(5)), (b) => b.toString(16).padStart(2, "0"))
      .join(":");
  /** Whether n1's bridge learned `m` behind its VXLAN port. */
  const learned = async (m: string) =>
    (await execIn(n1.netns, "bridge", ["fdb", "show", "dev", "vxlan-6784"])).stdout.includes(m);

  await t.step(
    "the table holds the other peers' underlay addresses, not the attacker's",
    async () => {
      const set = await nft(n1, "list set inet weavets_input peers");
      for (const n of [n2, n3]) assert.match(set, new RegExp(n.underlayIp.replaceAll(".", "\\.")));
      assert.doesNotMatch(set, new RegExp(a.ip.replaceAll(".", "\\.")));
      const status = await curl(n1, "GET", "http://127.0.0.1:6784/status");
      const section =
        (JSON.parse(status.body).sections as Array<{ service: string; fields: string[][] }>)
          .find((x) => x.service === "input-filter");
      assert.deepEqual(section?.fields[0], [
        "Allow-list",
        "UDP 6783/6784 from 2 peer address(es) only",
      ]);
    },
  );

  await t.step(
    "negative control first, off (n1's daemon stopped, its kernel path still up): the " +
      "attacker's frames reach the pod and teach the bridge a MAC",
    async () => {
      await c.stopDaemon(n1, "SIGTERM");
      try {
        const gone = await execIn(n1.netns, "nft", ["list", "table", "inet", "weavets_input"]);
        assert.notEqual(gone.code, 0, "a clean stop removes the table");
        const id = 0x6a00 + Math.floor(Math.random() * 0xff);
        const got = await arrivals(
          victim,
          id,
          () => sendDatagrams(a, n1.underlayIp, FASTDP_PORT, [make(id), make(id), make(id)], 10),
        );
        console.log(`  allow-list off: ${got}/3 of the attacker's frames reached the pod`);
        assert.ok(got > 0, "without the allow-list the attacker's frame reaches the pod");
        const m = randomMac();
        await sendDatagrams(a, n1.underlayIp, FASTDP_PORT, [fromMac(m, id)], 10);
        await Cluster.waitFor(`n1's bridge learning ${m}`, () => learned(m), 5_000, 100);
      } finally {
        c.startDaemon(n1);
        await c.waitReady(n1, 30_000);
      }
    },
  );

  const rulesBack = (what: string) =>
    Cluster.waitFor(
      what,
      async () =>
        (await execIn(n1.netns, "nft", ["list", "chain", "inet", "weavets_input", "data_ports"]))
          .stdout.includes("@peers"),
      25_000,
      250,
    );

  await t.step("a table removed or a chain flushed from outside is written again", async () => {
    await nft(n1, "delete table inet weavets_input");
    await rulesBack("n1's allow-list back after its table was deleted");
    await nft(n1, "flush chain inet weavets_input data_ports");
    await rulesBack("n1's allow-list back after its chain was flushed");
  });

  await t.step("on: the attacker's VXLAN frame never reaches the pod; n2's does", async () => {
    const before = await refused(n1);
    await injection(c, a, FASTDP_PORT, "from-peer", make);
    const m = randomMac();
    await sendDatagrams(a, n1.underlayIp, FASTDP_PORT, [fromMac(m, 1), fromMac(m, 2)], 10);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await learned(m), false, "n1's bridge learned the attacker's MAC");
    const after = await refused(n1);
    assert.ok(
      (after.fastdp ?? 0) - (before.fastdp ?? 0) >= 5,
      `refused counted: ${JSON.stringify(before)} → ${JSON.stringify(after)}`,
    );
  });

  await t.step("on: pods still ping across nodes, on the fast path", async () => {
    const pods = c.nodes.map((n) => c.pods.find((p) => p.node === n)!);
    for (const [x, y] of [[0, 1], [1, 2], [2, 0], [1, 0]]) {
      assert.ok(await reaches(c, pods[x], pods[y], 10_000), `${pods[x].name} → ${pods[y].name}`);
    }
    const dp = JSON.parse((await curl(n1, "GET", "http://127.0.0.1:6784/status/dataplane")).body);
    const paths = (dp.peers as Array<{ path: string }>).map((p) => p.path);
    assert.deepEqual(paths, ["fastdp", "fastdp"], JSON.stringify(dp.peers));
  });

  await t.step("a clean restart keeps the peers the kernel carries traffic to", async () => {
    const mark = logMark(n2);
    await c.stopDaemon(n2, "SIGTERM");
    const gone = await execIn(n2.netns, "nft", ["list", "table", "inet", "weavets_input"]);
    assert.notEqual(gone.code, 0, "a clean stop removes the table");
    c.startDaemon(n2);
    // Installed before any gossip: the VXLAN FDB's destinations (n1, n3) are in the set.
    const line = await Cluster.waitFor(
      "n2's allow-list installed",
      () => {
        const l = logSince(n2, mark).split("\n").find((x: string) =>
          x.includes("input allow-list installed")
        );
        return Promise.resolve(l ? JSON.parse(l) : undefined);
      },
      30_000,
      100,
    );
    assert.ok(line.adoptedFromPreviousRun >= 2, JSON.stringify(line));
    await c.waitReady(n2, 30_000);
    const pods = c.nodes.map((n) => c.pods.find((p) => p.node === n)!);
    assert.ok(
      await reaches(c, pods[0], pods[1], 10_000),
      "n1's pod reaches n2's after the restart",
    );
    assert.ok(
      await reaches(c, pods[1], pods[2], 10_000),
      "n2's pod reaches n3's after the restart",
    );
  });
}

Deno.test({
  name: "input allow-list (issue 13): a non-peer's spoofed VXLAN frame never reaches a pod nor " +
    "teaches the bridge a MAC, " +
    "peers' traffic flows on the fast path; without it the frame does reach the pod",
  ignore: !IS_ROOT,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: (t) => attackCluster({}, (c, a) => steps(t, c, a)),
});
