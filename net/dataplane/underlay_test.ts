import assert from "node:assert/strict";
import type { Address, Link, Route } from "../linux/mod.ts";
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

Deno.test("the underlay is the default route's interface, or the one holding --underlay-addr", () => {
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
  assert.throws(() => pickUnderlay(links, addrs, [], undefined), /--underlay-addr/);
  assert.throws(() => pickUnderlay(links, addrs, routes, "10.0.0.1"), /no interface/);
});
