/**
 * The fast path end to end (3 nodes, real daemons, CNI pods): a cut fast path moves only that pair
 * to the userspace path and back; a daemon killed with -9 leaves the kernel carrying its pods'
 * traffic, and its restart changes nothing that was right.
 */
import assert from "node:assert/strict";
import { Cluster, type Pod } from "../../cli/demo/cluster.ts";
import { inNetns, listLinks } from "../../net/linux/mod.ts";
import { IS_ROOT } from "../harness/netns.ts";
import { secondsSince, withCluster } from "./e2e.ts";
import { fastCluster, fdb, paths, talk, waitPath, waitPeerPath } from "./data_paths.ts";

Deno.test({
  name: "e2e data plane, fast path cut: UDP 6784 dropped between two nodes moves that pair " +
    "(only) to sleeve within 15 s, pods still talk; restored, it returns to fastdp",
  ignore: !IS_ROOT,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const t0 = performance.now();
    await withCluster({ nodes: 3 }, async (c) => {
      const [n1, n2, n3] = c.nodes;
      const [p1, p2] = await fastCluster(c);
      // Node 2 drops VXLAN from node 1.
      const nft = (rule: string) => c.run(n2.netns, "nft", [rule]);
      for (
        const rule of [
          "add table ip wtecut",
          "add chain ip wtecut input { type filter hook input priority 0 ; }",
          `add rule ip wtecut input ip saddr ${n1.underlayIp} udp dport 6784 drop`,
        ]
      ) {
        const r = await nft(rule);
        assert.equal(r.code, 0, `nft ${rule}: ${r.stderr}`);
      }
      const down = await waitPeerPath(c, n1, n2, "sleeve", 15_000);
      await waitPeerPath(c, n2, n1, "sleeve", 15_000);
      console.log(`  fast path cut: n1 -> n2 on sleeve after ${down.toFixed(1)} s`);
      const view = (await paths(c, n1)).get(Cluster.peerName(n3.index));
      assert.equal(view?.dataPath, "fastdp", "the other pair keeps the fast path");
      const text = (await c.cli(n1, ["status", "connections"])).stdout;
      const line = text.split("\n").find((l) => l.includes(Cluster.peerName(n2.index)));
      assert.match(line ?? "", / sleeve .*\(.+\)/, `the path and why:\n${text}`);
      assert.ok(await talk(c, p1, p2), "pods talk across the cut fast path");
      const r = await nft("delete table ip wtecut");
      assert.equal(r.code, 0, r.stderr);
      const up = await waitPeerPath(c, n1, n2, "fastdp", 15_000);
      await waitPeerPath(c, n2, n1, "fastdp", 15_000);
      console.log(`  fast path restored: n1 -> n2 on fastdp after ${up.toFixed(1)} s`);
      assert.ok(await talk(c, p1, p2), "pods talk when the fast path is back");
    });
    console.log(`  fast path cut: ${secondsSince(t0)} s in all`);
  },
});

/**
 * The other nodes keep a dead daemon's fast-path FDB entries while its control connection is down
 * (the kernel still carries the traffic), so pods keep talking through a daemon restart.
 */
Deno.test({
  name: "e2e data plane, kill -9 a daemon on the fast path: pods keep talking while it is " +
    "down; the restarted daemon changes nothing that was right",
  ignore: !IS_ROOT,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const t0 = performance.now();
    await withCluster({ nodes: 3 }, async (c) => {
      const [n1, , n3] = c.nodes;
      const [p1, p2, p3] = await fastCluster(c);
      // Gossip has told every node about every remote pod's MAC — p2's too: a node announces a
      // pod's MAC on its next poll (1 s) after its bridge learned it, so p2's could still be on
      // its way after p3's arrived, and then showed as an "extra" entry after the restart.
      const macOf = (p: Pod) =>
        inNetns(p.netns, () => listLinks()).find((l) => l.name === "eth0")!.mac;
      await Cluster.waitFor(
        "node 1's and node 3's FDBs to hold the remote pods",
        async () =>
          (await fdb(n1)).some((e) => e.startsWith(macOf(p2))) &&
          (await fdb(n1)).some((e) => e.startsWith(macOf(p3))) &&
          (await fdb(n3)).some((e) => e.startsWith(macOf(p1))),
        10_000,
      );
      const before = await fdb(n1);
      const elsewhere = await fdb(n3);

      const killed = performance.now();
      await c.stopDaemon(n1, "SIGKILL");
      const during = await talk(c, p1, p3);
      const n3During = await fdb(n3);
      assert.ok(
        during,
        "pods talk while node 1's daemon is down (kernel state); node 3's FDB before the kill:\n" +
          `${elsewhere.join("\n")}\nand while node 1's daemon is down:\n${n3During.join("\n")}`,
      );
      await c.startDaemon(n1);
      await c.waitReady(n1, 60_000);
      await waitPath(c, "fastdp", false);
      console.log(`  kill -9 and restart, back on fastdp: ${secondsSince(killed)} s`);
      assert.ok(await talk(c, p1, p3), "pods talk after the restart");
      assert.deepEqual(await fdb(n1), before, "the restart changed nothing that was right");
    });
    console.log(`  kill -9: ${secondsSince(t0)} s in all`);
  },
});
