/**
 * Root test (issue 17, --trusted-subnets, with issue 13's all-or-nothing): three real daemons
 * with a password, every one given --trusted-subnets 192.168.77.1/32,192.168.77.2/32. Nodes 0
 * and 1 are inside and trust each other: their pods' traffic takes the plaintext fast path. Node 2
 * (192.168.77.3) is outside; it trusts 0 and 1 (it says so in its handshakes), but they do not
 * trust it, so its traffic both ways stays encrypted: a peer's claim alone gets no plaintext.
 * An underlay capture shows the 0→1 marker in plaintext (the positive control for the capture)
 * and neither the 0→2 nor the 2→1 marker; node 2 has no VXLAN device, 0's FDB only points at 1.
 */
import assert from "node:assert/strict";
import { captureUdp } from "../harness/capture.ts";
import { linkIndex } from "../harness/links.ts";
import { IS_ROOT } from "../harness/netns.ts";
import { sh } from "../harness/sh.ts";
import { until } from "../harness/wait.ts";
import { Cluster, peerName, sendMarker } from "./cluster.ts";

/** Node's refused-untrusted counter (fastpath/trusted_input.ts); null: no such table. */
async function refusedUntrusted(node: string): Promise<number | null> {
  const r = await new Deno.Command("ip", {
    args: ["netns", "exec", node, "nft", "-j", "list", "counter", "inet", "weavets_fastdp"]
      .concat(["refused_untrusted"]),
    stdout: "piped",
    stderr: "null",
  }).output();
  if (!r.success) return null;
  const items = JSON.parse(new TextDecoder().decode(r.stdout)).nftables as Array<
    { counter?: { packets: number } }
  >;
  return items.find((i) => i.counter)?.counter?.packets ?? null;
}

/** `n` UDP datagrams from `from`'s namespace to `to`:6784 (bash's /dev/udp). */
async function udpTo6784(from: string, to: string, n: number): Promise<void> {
  await sh(
    "ip",
    "netns",
    "exec",
    from,
    "bash",
    "-c",
    `for i in $(seq ${n}); do echo forged > /dev/udp/${to}/6784; done`,
  );
}

const vxlanIndex = (node: string) => linkIndex(node, "vxlan-6784");
const hasVxlan = async (node: string) => (await vxlanIndex(node)) !== undefined;

Deno.test({
  name: "trusted subnets: with a password, plaintext VXLAN only between the mutually trusted " +
    "pair; the node outside stays encrypted both ways (capture: its markers never in plaintext)",
  ignore: !IS_ROOT,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const c = await Cluster.start({
      nodes: 3,
      podsPerNode: 1,
      fastdp: true,
      daemon: true,
      password: "trusted-subnets-pw",
      trustedSubnets: ["192.168.77.1/32", "192.168.77.2/32"],
      prefix: "wttrs",
    });
    const [a, b, x] = c.pods;
    try {
      for (const [n, p] of [[0, 1], [1, 0]]) {
        await until(`node ${n} → ${p} on the trusted fast path`, async () => {
          const v = await c.pathTo(n, p);
          return v?.path === "fastdp" && v.reasonKind === "trusted-unencrypted";
        }, 45_000);
      }
      for (const [n, p] of [[0, 2], [1, 2], [2, 0], [2, 1]]) {
        await until(`node ${n} → ${p} encrypted`, async () => {
          const v = await c.pathTo(n, p);
          return v?.path === "sleeve" && v.reasonKind === "encrypted";
        }, 45_000);
      }
      assert.ok(await hasVxlan(c.nodes[0]) && await hasVxlan(c.nodes[1]), "the trusted pair's");
      assert.ok(!(await hasVxlan(c.nodes[2])), "node 2 trusts nobody mutually: no VXLAN device");
      const fdb = await sh("bridge", "-n", c.nodes[0], "fdb", "show", "dev", "vxlan-6784");
      const dsts = [...new Set([...fdb.matchAll(/dst (\S+)/g)].map((m) => m[1]))];
      assert.deepEqual(dsts, ["192.168.77.2"], `node 0's FDB points only at node 1:\n${fdb}`);
      const s0 = await c.status(0);
      assert.deepEqual(s0.unencryptedPeers, [peerName(1)]);
      // `weavets status connections` as the operator reads it: node 1 unencrypted, node 2 not.
      const conns = await sh(
        "ip",
        "netns",
        "exec",
        c.nodes[0],
        "curl",
        "-sf",
        "http://127.0.0.1:6784/status/connections",
      );
      const line = (p: number) => conns.split("\n").find((l) => l.includes(peerName(p))) ?? "";
      assert.match(line(1), / unencrypted fastdp /, conns);
      assert.match(line(2), / encrypted +sleeve /, conns);
      assert.deepEqual((await c.status(2)).unencryptedPeers, []);

      // The fast-path port takes VXLAN only from the trusted peer: node 2 is a peer (the
      // allow-list admits it) but its datagrams to 6784 are refused and counted; node 1's are not.
      assert.equal(await refusedUntrusted(c.nodes[2]), null, "no device, no filter on node 2");
      const before = (await refusedUntrusted(c.nodes[0]))!;
      assert.notEqual(before, null, "node 0 guards its fast-path port");
      await udpTo6784(c.nodes[1], "192.168.77.1", 20);
      assert.equal(await refusedUntrusted(c.nodes[0]), before, "control: the trusted peer passes");
      await udpTo6784(c.nodes[2], "192.168.77.1", 20);
      assert.equal(await refusedUntrusted(c.nodes[0]), before + 20, "node 2's 20 refused");

      const seen = await captureUdp(c.underlay, "br0", 60_000, async () => {
        await sendMarker(a, b, "5201", "TRUSTED-PAIR-MARKER-a1");
        await sendMarker(a, x, "5202", "OUTSIDE-MARKER-b2");
        await sendMarker(x, b, "5203", "OUTSIDE-MARKER-c3");
      });
      assert.ok(seen.includes("TRUSTED-PAIR-MARKER-a1"), "control: the trusted pair is plaintext");
      assert.ok(!seen.includes("OUTSIDE-MARKER-b2"), "0 → 2 seen in plaintext");
      assert.ok(!seen.includes("OUTSIDE-MARKER-c3"), "2 → 1 seen in plaintext");

      // A crash and restart of node 0: the trusted pair's device is adopted (the same device,
      // so the kernel path to node 1 is not torn down), and the pair is back on it.
      const index = await vxlanIndex(c.nodes[0]);
      await c.kill(0);
      await c.startDriver(0);
      assert.equal(await vxlanIndex(c.nodes[0]), index, "the device was kept at start");
      for (const [n, p] of [[0, 1], [1, 0]]) {
        await until(`after the restart, node ${n} → ${p} trusted again`, async () => {
          const v = await c.pathTo(n, p);
          return v?.path === "fastdp" && v.reasonKind === "trusted-unencrypted";
        }, 45_000);
      }
      await until("node 0 → 2 encrypted after the restart", async () => {
        const v = await c.pathTo(0, 2);
        return v?.path === "sleeve" && v.reasonKind === "encrypted";
      }, 45_000);
      assert.equal(await vxlanIndex(c.nodes[0]), index, "and kept since");
    } catch (e) {
      for (let i = 0; i < c.nodes.length; i++) console.error(`--- node ${i}\n${c.driverLog(i)}`);
      throw e;
    } finally {
      await c.stop();
    }
  },
});
