/**
 * The one bridge set-up (net/dataplane/node/bridge.ts ensureBridgeLink, used by the daemon and
 * the CNI plugin) pins the bridge's MAC, in a kernel: a new bridge and an adopted one keep their
 * MAC when a port with a lower MAC joins. Negative control: an unpinned bridge takes that port's
 * MAC (what the daemon's bridge did before: the first suspect of issue 15's extra FDB entry).
 */
import assert from "node:assert/strict";
import { ensureBridgeLink } from "../../net/dataplane/node/bridge.ts";
import {
  createBridge,
  createVeth,
  getLink,
  inNetns,
  netnsPath,
  setMac,
  setMaster,
} from "../../net/linux/mod.ts";
import { IS_ROOT, withNamespaces } from "../harness/netns.ts";

const LOW = "02:00:00:00:00:01"; // below any random locally administered MAC but this one

/** Adds a veth port with MAC LOW to `bridge`; returns the bridge's MAC after. */
function addLowPort(bridge: string, name: string): string {
  createVeth(name, `${name}p`);
  setMac(name, LOW);
  setMaster(name, getLink(bridge).index);
  return getLink(bridge).mac;
}

Deno.test({
  name: "bridge: created or adopted by ensureBridgeLink, its MAC stays when a lower-MAC port " +
    "joins (an unpinned bridge's changes: the control)",
  ignore: !IS_ROOT,
  async fn() {
    await withNamespaces("wtbr", (ns) => {
      inNetns(netnsPath(ns.add("node")), () => {
        // Control: a bridge the kernel picks the MAC of takes the lowest port's.
        createBridge("plain");
        assert.equal(
          addLowPort("plain", "c0"),
          LOW,
          "control: an unpinned bridge follows its port",
        );

        const { link: made, created } = ensureBridgeLink("weave", 1400);
        assert.ok(created);
        assert.equal(made.mtu, 1400);
        assert.equal(addLowPort("weave", "a0"), made.mac, "a new bridge keeps its MAC");

        createBridge("old"); // left unpinned by an earlier version
        const before = getLink("old").mac;
        const adopted = ensureBridgeLink("old");
        assert.equal(adopted.created, false);
        assert.equal(adopted.link.mac, before, "adopting keeps the MAC it has");
        assert.equal(addLowPort("old", "b0"), before, "an adopted bridge keeps it too");

        createVeth("notbr", "notbrp");
        assert.throws(() => ensureBridgeLink("notbr"), /not a bridge/);
      });
    });
  },
});
