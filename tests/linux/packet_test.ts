/** Gratuitous ARP: a neighbour with arp_accept=1 learns the announced address (ip -j neigh). */
import assert from "node:assert/strict";
import { IS_ROOT, withNamespaces } from "../harness/netns.ts";
import { ipJson } from "../harness/sh.ts";
import {
  addAddress,
  createVeth,
  getLink,
  inNetns,
  sendGratuitousArp,
  setLinkUp,
  writeSysctl,
} from "../../net/linux/mod.ts";
import { linuxError, netnsPath, PREFIX } from "./helpers.ts";

const ignore = !IS_ROOT;

interface IpNeigh {
  dst: string;
  lladdr?: string;
}

async function learned(ns: string, ip: string): Promise<string | undefined> {
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline) {
    const n = (await ipJson<IpNeigh[]>(ns, "neigh", "show", "dev", "eth0")).find((e) =>
      e.dst === ip
    );
    if (n?.lladdr) return n.lladdr;
    await new Promise((r) => setTimeout(r, 20));
  }
  return undefined;
}

Deno.test({
  name: "sendGratuitousArp announces the IP with the interface MAC, or a given one",
  ignore,
}, async () => {
  await withNamespaces(PREFIX, async (ns) => {
    const pod = ns.add("pod");
    const peer = ns.add("peer");
    inNetns(netnsPath(peer), () => {
      createVeth("eth0", "eth0", { peerNetns: netnsPath(pod) });
      writeSysctl("net/ipv4/conf/eth0/arp_accept", "1");
      addAddress("eth0", "10.32.0.1/24");
      setLinkUp("eth0");
    });
    const podMac = inNetns(netnsPath(pod), () => {
      addAddress("eth0", "10.32.0.5/24");
      setLinkUp("eth0");
      sendGratuitousArp("eth0", "10.32.0.5");
      sendGratuitousArp("eth0", "10.32.0.6", "02:00:00:00:06:06");
      return getLink("eth0").mac;
    });
    assert.equal(await learned(peer, "10.32.0.5"), podMac);
    assert.equal(await learned(peer, "10.32.0.6"), "02:00:00:00:06:06");

    inNetns(netnsPath(pod), () => {
      assert.throws(
        () => sendGratuitousArp("nosuch0", "10.32.0.5"),
        linuxError("ENODEV", /^get link "nosuch0"/),
      );
      assert.throws(
        () => sendGratuitousArp("eth0", "fd00::1"),
        linuxError("EINVAL", /ARP is IPv4 only/),
      );
      assert.throws(
        () => sendGratuitousArp("eth0", "10.32.0.5", "nope"),
        linuxError("EINVAL", /invalid MAC/),
      );
    });
  });
});
