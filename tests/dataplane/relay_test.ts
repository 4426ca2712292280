/**
 * Root test: the userspace path relays along the mesh's routes. Three nodes on the underlay in a
 * line — node 0 and node 2 cannot reach each other (nft drops everything between their underlay
 * addresses, TCP and UDP), both reach node 1 — run the real daemon with --no-fastdp: pods on
 * node 0 and node 2 resolve each other with ARP (a broadcast relayed down the origin's broadcast
 * tree) and ping (unicast relayed through node 1), in the clear and encrypted (every hop re-seals
 * with the key of its own control connection; the ends never hold a key for each other).
 */
import assert from "node:assert/strict";
import { IS_ROOT } from "../harness/netns.ts";
import { sh } from "../harness/sh.ts";
import { until } from "../harness/wait.ts";
import { Cluster, peerName, ping } from "./cluster.ts";

type Stats = Record<string, number>;

/** The MAC pod `ns` resolved for `ip`, if any (ARP). */
async function neighbour(ns: string, ip: string): Promise<string | undefined> {
  const out = JSON.parse(await sh("ip", "-n", ns, "-j", "neigh", "show", ip)) as {
    lladdr?: string;
    state?: string[];
  }[];
  return out.find((n) => n.lladdr && !n.state?.includes("FAILED"))?.lladdr;
}

for (const password of [undefined, "relay-pw"]) {
  Deno.test({
    name: `userspace path${
      password ? ", encrypted," : ""
    } over a partial mesh: pods on two nodes that cannot reach each other talk through the third (ARP and ping relayed)`,
    ignore: !IS_ROOT,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const t0 = Date.now();
      const c = await Cluster.start({
        nodes: 3,
        podsPerNode: 1,
        fastdp: false,
        password,
        daemon: true,
        prefix: "wtrly",
        cut: [[0, 2]],
      });
      const [a, b, z] = c.pods;
      try {
        for (const [n, p] of [[0, 2], [2, 0]]) {
          await until(`node ${n} routes to node ${p} through node 1`, async () => {
            const v = await c.pathTo(n, p);
            return v?.path === "sleeve" && v.reason.includes(`relayed through ${peerName(1)}`);
          }, 20_000);
        }
        assert.equal(await neighbour(a.ns, z.ip), undefined, "nothing resolved yet");
        let pinged = false;
        for (let i = 0; i < 5 && !pinged; i++) pinged = await ping(a, z, 2);
        assert.ok(pinged, "a pod on node 0 pings a pod on node 2 through node 1");
        assert.equal(await neighbour(a.ns, z.ip), z.mac, "ARP resolved across the relay");
        assert.equal(await neighbour(z.ns, a.ip), a.mac, "and the other way");
        assert.ok(await ping(z, a, 2), "node 2 -> node 0");
        assert.ok(await ping(a, b, 2), "direct neighbours still talk");
        const s = (await Promise.all([0, 1, 2].map((n) => c.status(n)))).map((r) =>
          r.sleeve as Stats
        );
        assert.ok(s[1].relayed >= 4, `node 1 relayed: ${JSON.stringify(s[1])}`);
        for (const n of [0, 2]) {
          assert.equal(s[n].relayed, 0, `node ${n} is an end, not a relay`);
          assert.equal(s[n].rxAuthFailed, 0);
          assert.equal(s[n].rxReplayed, 0);
          assert.ok(s[n].rxFrames > 0);
        }
        console.log(
          `  relayed by node 1: ${s[1].relayed} messages; whole test ${Date.now() - t0} ms`,
        );
      } catch (e) {
        for (let i = 0; i < c.nodes.length; i++) console.error(`--- node ${i}\n${c.driverLog(i)}`);
        throw e;
      } finally {
        await c.stop();
      }
    },
  });
}
