/**
 * createVeth's one-request form (cni/host.ts uses it for every pod): the host end up and a bridge
 * port as created, checked against `ip -j -d link show`; a bad master leaves nothing.
 */
import assert from "node:assert/strict";
import { IS_ROOT, withNamespaces } from "../harness/netns.ts";
import { createBridge, createVeth, getLink, inNetns } from "../../net/linux/mod.ts";
import { ipLink, ipLinks, linuxError, netnsPath, PREFIX } from "./helpers.ts";

const ignore = !IS_ROOT;

Deno.test(
  {
    name: "veth created up, on a bridge, its peer in another netns, in one request",
    ignore,
  },
  async () => {
    await withNamespaces(PREFIX, async (ns) => {
      const host = ns.add("host");
      const pod = ns.add("pod");
      const br = inNetns(netnsPath(host), () => {
        createBridge("br0");
        const index = getLink("br0").index;
        createVeth("vethwepl1", "eth0", {
          peerNetns: netnsPath(pod),
          master: index,
          up: true,
        });
        // Control: the plain form leaves both ends down and the host end on no bridge.
        createVeth("vethplain", "eth1", { peerNetns: netnsPath(pod) });
        return index;
      });
      const h = await ipLink(host, "vethwepl1");
      const p = await ipLink(pod, "eth0");
      assert.equal(h.master, "br0");
      assert.ok(h.flags.includes("UP"), `host end flags ${h.flags}`);
      // The pod end cannot be made up in the creating request (the kernel answers ENOTCONN).
      assert.ok(!p.flags.includes("UP"), `pod end flags ${p.flags}`);
      const plain = await ipLink(host, "vethplain");
      assert.equal(plain.master, undefined);
      assert.ok(!plain.flags.includes("UP"));
      assert.ok(!(await ipLink(pod, "eth1")).flags.includes("UP"));
      assert.equal(inNetns(netnsPath(host), () => getLink("vethwepl1")).master, br);
    });
  },
);

Deno.test(
  { name: "veth with a master that does not exist: an error, and neither end is left", ignore },
  async () => {
    await withNamespaces(PREFIX, async (ns) => {
      const host = ns.add("host");
      const pod = ns.add("pod");
      assert.throws(
        () =>
          inNetns(netnsPath(host), () =>
            createVeth("vethwepl2", "eth0", {
              peerNetns: netnsPath(pod),
              master: 99999,
              up: true,
            })),
        linuxError("EINVAL", /create veth/),
      );
      assert.deepEqual((await ipLinks(host)).map((l) => l.ifname), ["lo"]);
      assert.deepEqual((await ipLinks(pod)).map((l) => l.ifname), ["lo"]);
    });
  },
);
