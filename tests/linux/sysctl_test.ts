/**
 * sysctl follows the calling thread's namespace (/proc/sys/net is resolved at open time);
 * /sys/class/net does not (sysfs shows the namespace it was mounted in).
 */
import assert from "node:assert/strict";
import { IS_ROOT, withNamespaces } from "../harness/netns.ts";
import { sh } from "../harness/sh.ts";
import { createVeth, inNetns, readSysctl, writeSysctl } from "../../net/linux/mod.ts";
import { linuxError, netnsPath, PREFIX } from "./helpers.ts";

const ignore = !IS_ROOT;

function nsCat(ns: string, key: string): Promise<string> {
  return sh("ip", "netns", "exec", ns, "cat", `/proc/sys/${key}`).then((s) => s.trim());
}

Deno.test(
  { name: "readSysctl/writeSysctl inside inNetns act on that namespace only", ignore },
  async () => {
    await withNamespaces(PREFIX, async (ns) => {
      const a = ns.add();
      const path = netnsPath(a);
      const hostForward = readSysctl("net/ipv4/ip_forward");
      const hostRp = readSysctl("net/ipv4/conf/all/rp_filter");
      const want = hostForward === "1" ? "0" : "1";
      inNetns(path, () => {
        createVeth("wtlsys0", "wtlsys1");
        writeSysctl("net/ipv4/ip_forward", want);
        writeSysctl("net/ipv4/conf/wtlsys0/arp_accept", "1");
        writeSysctl("net/ipv6/conf/wtlsys0/accept_ra", "0");
        writeSysctl("net/ipv4/conf/all/rp_filter", hostRp === "2" ? "1" : "2");
      });
      assert.equal(await nsCat(a, "net/ipv4/ip_forward"), want);
      assert.equal(await nsCat(a, "net/ipv4/conf/wtlsys0/arp_accept"), "1");
      assert.equal(await nsCat(a, "net/ipv6/conf/wtlsys0/accept_ra"), "0");
      assert.equal(inNetns(path, () => readSysctl("net/ipv4/ip_forward")), want);
      assert.equal(readSysctl("net/ipv4/ip_forward"), hostForward, "the host value is untouched");
      assert.equal(readSysctl("net/ipv4/conf/all/rp_filter"), hostRp);
      // wtlsys0 exists only in the namespace: outside, its per-interface key does not.
      assert.throws(() => readSysctl("net/ipv4/conf/wtlsys0/arp_accept"), linuxError("ENOENT"));
      assert.throws(
        () => inNetns(path, () => writeSysctl("net/ipv4/conf/wtlsys0/arp_accept", "banana")),
        linuxError(
          "EINVAL",
          /^write sysctl "net\/ipv4\/conf\/wtlsys0\/arp_accept" failed: EINVAL \(Invalid argument: value "banana"\)$/,
        ),
      );
    });
  },
);

Deno.test({ name: "/sys/class/net does NOT follow setns (documented trap)", ignore }, async () => {
  await withNamespaces(PREFIX, (ns) => {
    const path = netnsPath(ns.add());
    const hostView = [...Deno.readDirSync("/sys/class/net")].map((e) => e.name).sort();
    const insideView = inNetns(path, () => {
      createVeth("onlyhere0", "onlyhere1");
      return [...Deno.readDirSync("/sys/class/net")].map((e) => e.name).sort();
    });
    assert.ok(!insideView.includes("onlyhere0"), "sysfs still shows the mount's namespace");
    assert.ok(
      insideView.some((n) => hostView.includes(n) && n !== "lo"),
      "it shows the host's links",
    );
  });
});
