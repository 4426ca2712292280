/**
 * CNI GC (1.1.0) against the real binary and the real IPAM service: a runtime's GC for one
 * network releases what weavets ADDed on that network and is not valid — never a pod migrated
 * from Weave Net (its veth is Weave's `vethwepl<7 hex>`, its address claimed, never ADDed here),
 * nor a pod of another network on the same bridge and daemon (cni/gc_ledger.ts).
 */
import assert from "node:assert/strict";
import { IS_ROOT, withNamespaces } from "../harness/netns.ts";
import { sh } from "../harness/sh.ts";
import { hostVethName } from "../../cni/names.ts";
import { cni, hostVeths, IpamDaemon } from "./plugin.ts";

const PREFIX = "wtgc";
const WEAVE_VETH = "vethwepl551c56d"; // as Weave 2.8.1's plugin names it: "vethwepl" + id[:7]
const veth = (id: string) => hostVethName(id, "eth0");

Deno.test({
  name: "cni e2e: GC releases only the stale attachments weavets added on that network — a pod " +
    "migrated from Weave Net and a pod of another network keep their veths and addresses",
  ignore: !IS_ROOT,
  async fn() {
    await withNamespaces(PREFIX, async (ns) => {
      const node = ns.add("node");
      const pods = [ns.add("pod"), ns.add("pod"), ns.add("pod"), ns.add("pod")];
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

        // A pod Weave Net attached: its veth on the bridge, its address claimed by the daemon at
        // start (net/weave/existing.ts) under its libcni cache key.
        await sh(
          "ip",
          "-n",
          node,
          "link",
          "add",
          WEAVE_VETH,
          "type",
          "veth",
          "peer",
          "name",
          "eth0",
          "netns",
          pods[3],
        );
        await sh("ip", "-n", node, "link", "set", WEAVE_VETH, "master", "weave", "up");
        await sh("ip", "-n", pods[3], "addr", "add", "10.42.200.1/16", "dev", "eth0");
        await daemon.request("PUT", "/ip/weavepod1/10.42.200.1/16?ifname=eth0");

        const before = await daemon.allocations();
        assert.equal(before.length, 5, before.join(", ")); // 3 pods, the Weave pod, weave:expose
        const held = (id: string) => before.find((a) => a.startsWith(`${id} `))!;
        assert.equal((await hostVeths(node)).length, 4);

        // The runtime's GC of "wtgc": only mine1 is valid there.
        await gc("wtgc", ["mine1"]);
        const veths = (await hostVeths(node)).sort();
        assert.ok(veths.includes(WEAVE_VETH), `Weave's pod lost its veth: ${veths}`);
        assert.deepEqual(veths, [veth("mine1"), veth("other1"), WEAVE_VETH].sort());
        assert.deepEqual(
          await daemon.allocations(),
          before.filter((a) => a !== held("mine2")),
          "only mine2's address is released",
        );

        // The other network's GC with nothing valid: its own pod only.
        await gc("wtgc-other", []);
        assert.deepEqual((await hostVeths(node)).sort(), [veth("mine1"), WEAVE_VETH].sort());
        assert.deepEqual(
          await daemon.allocations(),
          before.filter((a) => a !== held("mine2") && a !== held("other1")),
        );

        // DEL forgets the record: a later GC of "wtgc" with nothing valid finds nothing of it.
        assert.equal((await cni("DEL", call("wtgc", "mine1", pods[0]))).code, 0);
        await gc("wtgc", []);
        assert.deepEqual(await hostVeths(node), [WEAVE_VETH]);
        assert.deepEqual(await daemon.allocations(), [held("weave:expose"), held("weavepod1")]);
      } finally {
        await daemon.stop();
      }
    });
  },
});
