/** Addresses: add, delete, list — checked against `ip -j addr show`. */
import assert from "node:assert/strict";
import { IS_ROOT, withNamespaces } from "../harness/netns.ts";
import { ipJson } from "../harness/sh.ts";
import {
  addAddress,
  createVeth,
  deleteAddress,
  getLink,
  inNetns,
  listAddresses,
  setLinkUp,
} from "../../net/linux/mod.ts";
import { linuxError, netnsPath, PREFIX } from "./helpers.ts";

const ignore = !IS_ROOT;

interface IpAddrInfo {
  family: string;
  local: string;
  prefixlen: number;
  scope: string;
  label?: string;
  broadcast?: string;
}

async function ipAddrs(ns: string, dev: string): Promise<IpAddrInfo[]> {
  const [l] = await ipJson<{ addr_info: IpAddrInfo[] }[]>(ns, "addr", "show", "dev", dev);
  return l.addr_info;
}

Deno.test({ name: "IPv4 and IPv6 addresses: add, list, delete", ignore }, async () => {
  await withNamespaces(PREFIX, async (ns) => {
    const a = ns.add();
    const path = netnsPath(a);
    inNetns(path, () => {
      createVeth("eth0", "peer0");
      addAddress("eth0", "10.32.0.5/12");
      addAddress("eth0", "192.168.7.1/32");
      addAddress("eth0", "10.40.0.1/24", { label: "eth0:vip" });
      addAddress("eth0", "fd00::5/64");
    });
    const ip = await ipAddrs(a, "eth0");
    assert.deepEqual(
      ip.map((x) => [x.family, `${x.local}/${x.prefixlen}`, x.scope, x.label, x.broadcast]),
      [
        ["inet", "10.32.0.5/12", "global", "eth0", "10.47.255.255"],
        ["inet", "192.168.7.1/32", "global", "eth0", undefined],
        ["inet", "10.40.0.1/24", "global", "eth0:vip", "10.40.0.255"],
        ["inet6", "fd00::5/64", "global", undefined, undefined],
      ],
    );
    const ours = inNetns(path, () => listAddresses("eth0"));
    const index = inNetns(path, () => getLink("eth0").index);
    assert.deepEqual(
      ours.map((x) => [x.index, x.family, x.cidr, x.scope, x.label, x.broadcast]),
      ip.map((x) => [
        index,
        x.family === "inet" ? 4 : 6,
        `${x.local}/${x.prefixlen}`,
        0,
        x.label,
        x.broadcast,
      ]),
    );
    // Without a link filter: loopback's addresses too (lo is up in harness namespaces).
    const all = inNetns(path, () => listAddresses());
    assert.ok(all.some((x) => x.cidr === "127.0.0.1/8" && x.scope === 254));

    inNetns(path, () => {
      deleteAddress("eth0", "10.32.0.5/12");
      deleteAddress(index, "fd00::5/64");
    });
    assert.deepEqual((await ipAddrs(a, "eth0")).map((x) => x.local), ["192.168.7.1", "10.40.0.1"]);
  });
});

Deno.test({
  name: "address errors: duplicate EEXIST, missing EADDRNOTAVAIL, bad CIDR EINVAL",
  ignore,
}, async () => {
  await withNamespaces(PREFIX, async (ns) => {
    const a = ns.add();
    inNetns(netnsPath(a), () => {
      createVeth("eth0", "peer0");
      setLinkUp("eth0");
      addAddress("eth0", "10.1.0.1/24");
      assert.throws(
        () => addAddress("eth0", "10.1.0.1/24"),
        linuxError(
          "EEXIST",
          'add address 10.1.0.1/24 on "eth0" failed: EEXIST (File exists: ipv4: Address already assigned)',
        ),
      );
      assert.throws(
        () => deleteAddress("eth0", "10.9.9.9/24"),
        linuxError(
          "EADDRNOTAVAIL",
          /^delete address 10.9.9.9\/24 on "eth0" failed: EADDRNOTAVAIL/,
        ),
      );
      assert.throws(
        () => addAddress("eth0", "10.1.0.300/24"),
        linuxError("EINVAL", /invalid IPv4 address "10.1.0.300"/),
      );
      assert.throws(
        () => addAddress("eth0", "10.1.0.3"),
        linuxError("EINVAL", /missing "\/prefix"/),
      );
    });
    assert.deepEqual(
      (await ipAddrs(a, "eth0")).filter((x) => x.family === "inet").map((x) => x.local),
      ["10.1.0.1"],
    );
  });
});
