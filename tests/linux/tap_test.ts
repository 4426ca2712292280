/** TAP devices: creation flags per `ip -d link`, frames written and read through the raw fd. */
import assert from "node:assert/strict";
import { IS_ROOT, withNamespaces } from "../harness/netns.ts";
import { ipJson } from "../harness/sh.ts";
import {
  addAddress,
  addNeigh,
  closeFd,
  closeTap,
  getLink,
  inNetns,
  LinuxError,
  openTap,
  readFd,
  sendGratuitousArp,
  sendTo,
  setLinkUp,
  sockaddrIn,
  TUN_F_CSUM,
  TUN_F_TSO4,
  TUN_F_TSO6,
  udpSocket,
  VIRTIO_NET_HDR_LEN,
  writeFd,
  writeSysctl,
} from "../../net/linux/mod.ts";
import { gratuitousArpPayload } from "../../net/linux/packet.ts";
import { ipLink, ipLinks, linuxError, netnsPath, PREFIX } from "./helpers.ts";

const ignore = !IS_ROOT;

/** Reads frames from a non-blocking fd until `want` matches one (bounded wait). */
async function readFrame(fd: number, want: (f: Uint8Array) => boolean): Promise<Uint8Array> {
  const buf = new Uint8Array(65536);
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline) {
    let n: number;
    try {
      n = readFd(fd, buf);
    } catch (e) {
      if (e instanceof LinuxError && e.code === "EAGAIN") {
        await new Promise((r) => setTimeout(r, 5));
        continue;
      }
      throw e;
    }
    const frame = buf.slice(0, n);
    if (want(frame)) return frame;
  }
  throw new Error("no matching frame within 3 s");
}

const etherType = (f: Uint8Array, off: number) => (f[off + 12] << 8) | f[off + 13];

/** Puts a TAP up with an address and a static neighbour, IPv6 off (no stray frames). */
function prepare(name: string, cidr: string, neighbour: string): void {
  writeSysctl(`net/ipv6/conf/${name}/disable_ipv6`, "1");
  addAddress(name, cidr);
  setLinkUp(name);
  addNeigh({ dev: name, ip: neighbour, mac: "02:00:00:00:09:02" });
}

function sendUdp(to: string): void {
  const s = udpSocket();
  try {
    const payload = new TextEncoder().encode("hello through the tap");
    sendTo(s, payload, payload.length, sockaddrIn(to, 9999));
  } finally {
    closeFd(s);
  }
}

Deno.test({
  name: "openTap: a tap without packet info, with vnet_hdr when asked; gone on close",
  ignore,
}, async () => {
  await withNamespaces(PREFIX, async (ns) => {
    const a = ns.add();
    const [plain, vnet] = inNetns(netnsPath(a), () => [
      openTap("tap0"),
      openTap("tap1", { vnetHdr: true, offloads: TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 }),
    ]);
    try {
      assert.deepEqual([plain.name, vnet.name], ["tap0", "tap1"]);
      const d0 = (await ipLink(a, "tap0")).linkinfo;
      const d1 = (await ipLink(a, "tap1")).linkinfo;
      assert.equal(d0?.info_kind, "tun");
      assert.deepEqual([d0?.info_data?.type, d0?.info_data?.pi, d0?.info_data?.vnet_hdr], [
        "tap",
        false,
        false,
      ]);
      assert.deepEqual([d1?.info_data?.type, d1?.info_data?.pi, d1?.info_data?.vnet_hdr], [
        "tap",
        false,
        true,
      ]);
      assert.equal(d0?.info_data?.persist, false, "lives only as long as the fd");
    } finally {
      closeTap(plain);
      closeTap(vnet);
    }
    assert.deepEqual((await ipLinks(a)).map((l) => l.ifname), ["lo"]);
  });
});

Deno.test({
  name: "TAP fd I/O: a written frame is received by the kernel; an outgoing ARP is read",
  ignore,
}, async () => {
  await withNamespaces(PREFIX, async (ns) => {
    const a = ns.add();
    const path = netnsPath(a);
    const tap = inNetns(path, () => {
      const t = openTap("tap0", { nonBlocking: true });
      prepare("tap0", "10.9.0.1/24", "10.9.0.2");
      return t;
    });
    try {
      const mac = inNetns(path, () => getLink("tap0").mac);
      // Write: an ARP frame from "outside" arrives as an rx packet.
      const frame = new Uint8Array(42);
      frame.fill(0xff, 0, 6);
      frame.set([2, 0, 0, 0, 9, 2], 6);
      frame.set([0x08, 0x06], 12);
      frame.set(
        gratuitousArpPayload(new Uint8Array([10, 9, 0, 2]), new Uint8Array([2, 0, 0, 0, 9, 2])),
        14,
      );
      assert.equal(writeFd(tap.fd, frame), 42);
      const [stats] = await ipJson<{ stats64: { rx: { packets: number } } }[]>(
        a,
        "-s",
        "link",
        "show",
        "tap0",
      );
      assert.ok(stats.stats64.rx.packets >= 1, `rx packets ${stats.stats64.rx.packets}`);

      // Read: a gratuitous ARP sent out of the tap is the exact frame on the wire.
      inNetns(path, () => sendGratuitousArp("tap0", "10.9.0.1"));
      const arp = await readFrame(tap.fd, (f) => etherType(f, 0) === 0x0806);
      const want = new Uint8Array(42);
      want.fill(0xff, 0, 6);
      want.set(mac.split(":").map((h) => parseInt(h, 16)), 6);
      want.set([0x08, 0x06], 12);
      want.set(gratuitousArpPayload(new Uint8Array([10, 9, 0, 1]), want.subarray(6, 12)), 14);
      assert.deepEqual(arp.subarray(0, 42), want);
    } finally {
      closeTap(tap);
    }
  });
});

Deno.test({
  name: "TUNSETOFFLOAD by value: with TUN_F_CSUM the kernel hands over unchecksummed UDP",
  ignore,
}, async () => {
  await withNamespaces(PREFIX, async (ns) => {
    const a = ns.add();
    const path = netnsPath(a);
    const [withCsum, without] = inNetns(path, () => {
      const t1 = openTap("tapc", { vnetHdr: true, offloads: TUN_F_CSUM, nonBlocking: true });
      const t2 = openTap("tapn", { vnetHdr: true, nonBlocking: true });
      prepare("tapc", "10.9.1.1/24", "10.9.1.2");
      prepare("tapn", "10.9.2.1/24", "10.9.2.2");
      sendUdp("10.9.1.2");
      sendUdp("10.9.2.2");
      return [t1, t2];
    });
    try {
      const isUdp = (f: Uint8Array) =>
        etherType(f, VIRTIO_NET_HDR_LEN) === 0x0800 && f[VIRTIO_NET_HDR_LEN + 14 + 9] === 17;
      const c = await readFrame(withCsum.fd, isUdp);
      const n = await readFrame(without.fd, isUdp);
      const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
      assert.equal(c[0] & VIRTIO_NET_HDR_F_NEEDS_CSUM, 1, "checksum left to the reader");
      assert.equal(n[0] & VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, "checksum already computed");
    } finally {
      closeTap(withCsum);
      closeTap(without);
    }
  });
});

Deno.test({
  name: "openTap errors: bad name, unsupported offload bits; nothing left behind",
  ignore,
}, async () => {
  await withNamespaces(PREFIX, async (ns) => {
    const a = ns.add();
    inNetns(netnsPath(a), () => {
      assert.throws(
        () => openTap("tap/0"),
        linuxError("EINVAL", /interface name cannot contain '\/'/),
      );
      assert.throws(
        () => openTap("tapx", { vnetHdr: true, offloads: 0x8000 }),
        linuxError("EINVAL", 'set tap offloads "tapx" failed: EINVAL (Invalid argument)'),
      );
    });
    assert.deepEqual((await ipLinks(a)).map((l) => l.ifname), ["lo"]);
  });
});
