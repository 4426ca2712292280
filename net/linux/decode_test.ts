/** Decoding kernel replies (as the kernel lays them out) into Link/Address/Route/FDB. No root. */
import assert from "node:assert/strict";
import { decodeAddress } from "./addr.ts";
import { decodeLink } from "./link.ts";
import { decodeFdb, decodeNeigh } from "./neigh.ts";
import { decodeMessages, MessageEncoder } from "./netlink/codec.ts";
import * as R from "./netlink/rtnl.ts";
import { decodeRoute } from "./route.ts";

function header(len: number, fill: (v: DataView) => void): Uint8Array {
  const b = new Uint8Array(len);
  fill(new DataView(b.buffer));
  return b;
}

const decodeOne = (enc: MessageEncoder) => decodeMessages(enc.finish(1))[0];

Deno.test("RTM_NEWLINK: a veth with its peer in another namespace", () => {
  const enc = new MessageEncoder(R.RTM_NEWLINK, 2).raw(header(16, (v) => {
    v.setInt32(4, 7, true); // index
    v.setUint32(8, 0x1003, true); // UP | BROADCAST | MULTICAST
  }));
  enc.attr(R.IFLA_ADDRESS, new Uint8Array([2, 0, 0, 0, 0, 1])).str(R.IFLA_IFNAME, "vethwepl1")
    .u32(R.IFLA_MTU, 1376).u32(R.IFLA_LINK, 2).u32(R.IFLA_MASTER, 3).u8(R.IFLA_OPERSTATE, 6)
    .i32(R.IFLA_LINK_NETNSID, 0).u32(R.IFLA_GSO_MAX_SIZE, 65536);
  enc.nest(R.IFLA_LINKINFO, () => enc.str(R.IFLA_INFO_KIND, "veth"));
  assert.deepEqual(decodeLink(decodeOne(enc)), {
    index: 7,
    name: "vethwepl1",
    mtu: 1376,
    mac: "02:00:00:00:00:01",
    up: true,
    flags: 0x1003,
    kind: "veth",
    master: 3,
    operState: "UP",
    linkNetnsId: 0,
    peerIndex: 2,
    gsoMaxSize: 65536,
  });
});

Deno.test("RTM_NEWLINK: loopback has no kind, no peer (IFLA_LINK is itself)", () => {
  const enc = new MessageEncoder(R.RTM_NEWLINK, 2).raw(header(16, (v) => v.setInt32(4, 1, true)));
  enc.attr(R.IFLA_ADDRESS, new Uint8Array(6)).str(R.IFLA_IFNAME, "lo").u32(R.IFLA_MTU, 65536)
    .u32(R.IFLA_LINK, 1).u8(R.IFLA_OPERSTATE, 0);
  const l = decodeLink(decodeOne(enc));
  assert.deepEqual([l.kind, l.peerIndex, l.operState, l.up], [
    undefined,
    undefined,
    "UNKNOWN",
    false,
  ]);
});

Deno.test("RTM_NEWADDR: IPv4 with label and broadcast, IPv6 without IFA_LOCAL", () => {
  const v4 = new MessageEncoder(R.RTM_NEWADDR, 2).raw(header(8, (v) => {
    v.setUint8(0, 2);
    v.setUint8(1, 12);
    v.setUint32(4, 7, true);
  })).attr(R.IFA_ADDRESS, new Uint8Array([10, 32, 0, 5])).attr(
    R.IFA_LOCAL,
    new Uint8Array([10, 32, 0, 5]),
  )
    .attr(R.IFA_BROADCAST, new Uint8Array([10, 47, 255, 255])).str(R.IFA_LABEL, "weave");
  assert.deepEqual(decodeAddress(decodeOne(v4)), {
    index: 7,
    family: 4,
    cidr: "10.32.0.5/12",
    scope: 0,
    label: "weave",
    broadcast: "10.47.255.255",
  });
  const ll = new Uint8Array(16);
  ll.set([0xfe, 0x80], 0);
  ll[15] = 1;
  const v6 = new MessageEncoder(R.RTM_NEWADDR, 2).raw(header(8, (v) => {
    v.setUint8(0, 10);
    v.setUint8(1, 64);
    v.setUint8(3, 253);
    v.setUint32(4, 7, true);
  })).attr(R.IFA_ADDRESS, ll);
  assert.deepEqual(decodeAddress(decodeOne(v6)), {
    index: 7,
    family: 6,
    cidr: "fe80::1/64",
    scope: 253,
  });
});

Deno.test("RTM_NEWROUTE: default route via a gateway; onlink flag; table from RTA_TABLE", () => {
  const enc = new MessageEncoder(R.RTM_NEWROUTE, 2).raw(header(12, (v) => {
    v.setUint8(0, 2);
    v.setUint8(4, 254);
    v.setUint8(5, 3);
    v.setUint8(7, 1);
    v.setUint32(8, R.RTNH_F_ONLINK, true);
  })).attr(R.RTA_GATEWAY, new Uint8Array([10, 1, 0, 1])).u32(R.RTA_OIF, 4).u32(R.RTA_PRIORITY, 100)
    .u32(R.RTA_TABLE, 1000);
  assert.deepEqual(decodeRoute(decodeOne(enc)), {
    dst: "0.0.0.0/0",
    table: 1000,
    protocol: 3,
    type: 1,
    gateway: "10.1.0.1",
    dev: 4,
    scope: "universe",
    onlink: true,
    metric: 100,
  });
});

Deno.test("RTM_NEWNEIGH: an ARP entry and a VXLAN FDB entry with dst, port and VNI", () => {
  const ndmsg = (family: number, state: number, flags: number) =>
    header(12, (v) => {
      v.setUint8(0, family);
      v.setInt32(4, 9, true);
      v.setUint16(8, state, true);
      v.setUint8(10, flags);
    });
  const arp = new MessageEncoder(R.RTM_NEWNEIGH, 2).raw(ndmsg(2, R.NUD_REACHABLE, 0))
    .attr(R.NDA_DST, new Uint8Array([10, 1, 0, 9])).attr(
      R.NDA_LLADDR,
      new Uint8Array([2, 0, 0, 0, 0, 9]),
    );
  assert.deepEqual(decodeNeigh(decodeOne(arp)), {
    dev: 9,
    ip: "10.1.0.9",
    mac: "02:00:00:00:00:09",
    stateBits: R.NUD_REACHABLE,
    state: ["REACHABLE"],
  });
  const fdb = new MessageEncoder(R.RTM_NEWNEIGH, 2).raw(
    ndmsg(7, R.NUD_PERMANENT | R.NUD_NOARP, R.NTF_SELF),
  )
    .attr(R.NDA_LLADDR, new Uint8Array(6)).attr(R.NDA_DST, new Uint8Array([192, 168, 1, 2]))
    .u16be(R.NDA_PORT, 6784).u32(R.NDA_VNI, 42);
  assert.deepEqual(decodeFdb(decodeOne(fdb)), {
    dev: 9,
    mac: "00:00:00:00:00:00",
    self: true,
    master: false,
    permanent: true,
    stateBits: R.NUD_PERMANENT | R.NUD_NOARP,
    state: ["NOARP", "PERMANENT"],
    dst: "192.168.1.2",
    vni: 42,
    port: 6784,
  });
});
