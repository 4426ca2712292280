/**
 * CNI GC (1.1.0) against the real binary and the real IPAM service: a runtime's GC for one
 * network releases what weavets ADDed on that network and is not valid — never a pod migrated
 * from Weave Net (its veth is Weave's `vethwepl<7 hex>`, its address claimed, never ADDed here)
 * while its veth is there, nor a pod of another network on the same bridge and daemon
 * (cni/gc_ledger.ts).
 */
import assert from "node:assert/strict";
import { IS_ROOT, withNamespaces } from "../harness/netns.ts";
import { addVeth } from "../harness/links.ts";
import { sh } from "../harness/sh.ts";
import { hostVethName } from "../../cni/names.ts";
import { cni, hostVeths, IpamDaemon } from "./plugin.ts";

const PREFIX = "wtgc";
const WEAVE_VETH = "vethwepl551c56d"; // as Weave 2.8.1's plugin names it: "vethwepl" + id[:7]
const KEYLESS_VETH = "vethwepl7a3b9c1"; // a Weave pod the runtime's cache did not name
const veth = (id: string) => hostVethName(id, "eth0");

Deno.test({
  name: "cni e2e: GC releases only the stale attachments weavets added on that network — a pod " +
    "migrated from Weave Net and a pod of another network keep their veths and addresses",
  ignore: !IS_ROOT,
  async fn() {
    await withNamespaces(PREFIX, async (ns) => {
      const node = ns.add("node");
      const pods = Array.from({ length: 5 }, () => ns.add("pod"));
      const daemon = new IpamDaemon(node, "10.42.0.0/16");
      await daemon.start();
      try {
        const conf = (name: string, extra: Record<string, unknown> = {}) => ({
          cniVersion: "1.1.0",
          name,
          type: "weavets",
          daemonAddress: daemon.address,
          ...extra,
        });
        const call = (net: string, id: string, pod: string, extra = {}) => ({
          node,
          conf: conf(net, extra),
          containerId: id,
          netns: `/run/netns/${pod}`,
          ifname: "eth0",
        });
        const gc = async (net: string, valid: string[]) => {
          const attachments = valid.map((containerID) => ({ containerID, ifname: "eth0" }));
          const g = await cni("GC", {
            node,
            conf: conf(net, { "cni.dev/valid-attachments": attachments }),
          });
          assert.equal(g.code, 0, g.stdout + g.stderr);
        };
        for (const [net, id, pod] of [["wtgc", "mine1", 0], ["wtgc", "mine2", 1]] as const) {
          const a = await cni("ADD", call(net, id, pods[pod]));
          assert.equal(a.code, 0, a.stdout + a.stderr);
        }
        const other = await cni("ADD", call("wtgc-other", "other1", pods[2]));
        assert.equal(other.code, 0, other.stdout + other.stderr);

        // Pods Weave Net attached: a veth on the bridge, the address claimed by the daemon at its
        // start (net/weave/existing.ts) under the libcni cache key, or, without one, as
        // "weave:existing:<veth>"; and such a claim of a pod that went since (no veth).
        const weavePod = async (veth: string, pod: string, ip: string, id: string) => {
          await addVeth({ name: veth, netns: node }, { name: "eth0", netns: pod });
          await sh("ip", "-n", node, "link", "set", veth, "master", "weave", "up");
          await sh("ip", "-n", pod, "addr", "add", `${ip}/16`, "dev", "eth0");
          await daemon.request("PUT", `/ip/${id}/${ip}/16?ifname=eth0`);
        };
        await weavePod(WEAVE_VETH, pods[3], "10.42.200.1", "weavepod1");
        await weavePod(KEYLESS_VETH, pods[4], "10.42.200.2", `weave:existing:${KEYLESS_VETH}`);
        await daemon.request("PUT", "/ip/weave:existing:vethweplgone00/10.42.200.3/16?ifname=eth0");

        const before = await daemon.allocations();
        // 3 pods, 3 of Weave's (one gone), weave:expose
        assert.equal(before.length, 7, before.join(", "));
        const held = (id: string) => before.find((a) => a.startsWith(`${id} `))!;
        const weaves = [WEAVE_VETH, KEYLESS_VETH];
        assert.equal((await hostVeths(node)).length, 5);

        // The runtime's GC of "wtgc": only mine1 is valid there.
        await gc("wtgc", ["mine1"]);
        const veths = (await hostVeths(node)).sort();
        assert.ok(veths.includes(WEAVE_VETH), `Weave's pod lost its veth: ${veths}`);
        assert.deepEqual(veths, [veth("mine1"), veth("other1"), ...weaves].sort());
        const gone = held("weave:existing:vethweplgone00");
        assert.deepEqual(
          await daemon.allocations(),
          before.filter((a) => a !== held("mine2") && a !== gone),
          "only mine2's address is released, and the claim of the Weave pod that went",
        );

        // The other network's GC with nothing valid: its own pod only.
        await gc("wtgc-other", []);
        assert.deepEqual((await hostVeths(node)).sort(), [veth("mine1"), ...weaves].sort());
        assert.deepEqual(
          await daemon.allocations(),
          before.filter((a) => a !== held("mine2") && a !== gone && a !== held("other1")),
        );

        // DEL forgets the record: a later GC of "wtgc" with nothing valid finds nothing of it.
        assert.equal((await cni("DEL", call("wtgc", "mine1", pods[0]))).code, 0);
        await gc("wtgc", []);
        assert.deepEqual((await hostVeths(node)).sort(), weaves.sort());
        const keyless = held(`weave:existing:${KEYLESS_VETH}`);
        assert.deepEqual(await daemon.allocations(), [
          keyless,
          held("weave:expose"),
          held("weavepod1"),
        ]);

        // The keyless Weave pod goes (its namespace, and with it the veth): the next GC frees it.
        await sh("ip", "-n", node, "link", "del", KEYLESS_VETH);
        await gc("wtgc", []);
        assert.deepEqual(await daemon.allocations(), [held("weave:expose"), held("weavepod1")]);
      } finally {
        await daemon.stop();
      }
    });
  },
});
