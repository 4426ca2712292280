import assert from "node:assert/strict";
import type { Address, Link, Route } from "../../linux/mod.ts";
import { pickUnderlay } from "./underlay.ts";

const links: Link[] = [
  { index: 1, name: "lo", mtu: 65536, mac: "", up: true, flags: 0 },
  { index: 2, name: "eth0", mtu: 9001, mac: "02:00:00:00:00:01", up: true, flags: 0 },
  { index: 3, name: "eth1", mtu: 1500, mac: "02:00:00:00:00:02", up: true, flags: 0 },
];
const addrs: Address[] = [
  { index: 1, family: 4, cidr: "127.0.0.1/8", scope: 254 },
  { index: 2, family: 4, cidr: "172.31.0.5/20", scope: 0 },
  { index: 3, family: 4, cidr: "192.168.9.9/24", scope: 0 },
];
const routes: Route[] = [{ dst: "0.0.0.0/0", gateway: "172.31.0.1", dev: 2 }];

Deno.test("the underlay is the default route's interface, or the one holding --host", () => {
  assert.deepEqual(pickUnderlay(links, addrs, routes), {
    addr: "172.31.0.5",
    dev: "eth0",
    mtu: 9001,
  });
  assert.deepEqual(pickUnderlay(links, addrs, routes, "192.168.9.9"), {
    addr: "192.168.9.9",
    dev: "eth1",
    mtu: 1500,
  });
  assert.throws(() => pickUnderlay(links, addrs, [], undefined), /2 interfaces .* --host/);
  assert.throws(() => pickUnderlay(links, addrs, routes, "10.0.0.1"), /no interface/);
});

Deno.test("without a default route, the only interface with an address is the underlay", () => {
  const withBridge: Link[] = [...links, {
    index: 4,
    name: "weave",
    mtu: 1450,
    mac: "",
    up: true,
    flags: 0,
  }];
  const one: Address[] = [
    addrs[0],
    addrs[1],
    { index: 4, family: 4, cidr: "10.32.0.1/12", scope: 0 },
  ];
  assert.deepEqual(pickUnderlay(withBridge, one, [], undefined, ["weave"]), {
    addr: "172.31.0.5",
    dev: "eth0",
    mtu: 9001,
  });
  // The bridge is not excluded: two candidates, so the node must say which.
  assert.throws(() => pickUnderlay(withBridge, one, [], undefined), /--host/);
});
