/**
 * Crafting and observing userspace-path (sleeve) datagrams for the attack suites: headers built
 * with the product's own format module, datagrams sent from the attacker's namespace, datagrams
 * of real peers captured on the underlay (as an attacker on that network can), and the victim's
 * receive counters.
 */
import { Cluster, have } from "../../cli/demo/cluster.ts";
import { spawnIn } from "../../cli/demo/exec.ts";
import { SLEEVE_FRAGMENT_HEADER, writeFragmentHeader } from "../../net/dataplane/sleeve/format.ts";
import { netnsPath } from "../../net/linux/mod.ts";
import { peerNameBytes } from "../../net/mesh/peer_name.ts";
import { readUntil } from "../harness/sh.ts";
import { type Attacker, curl, runClient, sleep } from "./attacker.ts";

type Node = Cluster["nodes"][number];

export interface Fragment {
  flags?: number;
  sender: Uint8Array;
  keyId: Uint8Array;
  seq: number;
  origin: Uint8Array;
  dest: Uint8Array | null;
  hops?: number;
  /** Header byte 37, the format version (defaults to the product's). */
  byte37?: number;
  index: number;
  count: number;
  /** The header's payload length (defaults to the payload's). */
  lenField?: number;
  payload: Uint8Array;
}

export const nameBytes = (index: number) => peerNameBytes(Cluster.peerName(index));

/** One datagram: a fragment header written by the product's format module, and a payload. */
export function fragment(f: Fragment): Uint8Array {
  const out = new Uint8Array(SLEEVE_FRAGMENT_HEADER + f.payload.length);
  writeFragmentHeader(
    out,
    0,
    {
      encrypted: ((f.flags ?? 0) & 1) === 1,
      sender: f.sender,
      keyId: f.keyId,
      seq: f.seq,
      origin: f.origin,
      dest: f.dest,
      hops: f.hops ?? 16,
    },
    f.index,
    f.count,
    f.lenField ?? f.payload.length,
  );
  if (f.flags !== undefined) out[1] = f.flags;
  if (f.byte37 !== undefined) out[37] = f.byte37;
  out.set(f.payload, SLEEVE_FRAGMENT_HEADER);
  return out;
}

/** A fragment 0 payload: the lead (the wire body's total, as u32) and then `rest`. */
export function withLead(total: number, rest: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + rest.length);
  new DataView(out.buffer).setUint32(0, total);
  out.set(rest, 4);
  return out;
}

/** A forged source: a peer's address and port, sent through `ifname` to the victim's `dstMac`. */
export interface Spoof {
  ifname: string;
  dstMac: string;
  ip: string;
  port: number;
}

/**
 * Sends datagrams from the attacker to `host:port` (paced), from its own address or `spoof`;
 * returns how many were sent.
 */
export async function sendDatagrams(
  a: Attacker,
  host: string,
  port: number,
  list: Uint8Array[],
  perSecond = 2000,
  spoof?: Spoof,
): Promise<number> {
  const file = await Deno.makeTempFile({ prefix: "wtatk-", suffix: ".bin" });
  try {
    let size = 0;
    for (const d of list) size += 4 + d.length;
    const buf = new Uint8Array(size);
    const dv = new DataView(buf.buffer);
    let o = 0;
    for (const d of list) {
      dv.setUint32(o, d.length);
      buf.set(d, o + 4);
      o += 4 + d.length;
    }
    await Deno.writeFile(file, buf);
    const r = await runClient<{ sent: number }>(
      a.netns,
      "udp",
      { cmd: "send", host, port, file, perSecond, spoof },
      60_000 + (list.length / perSecond) * 2000,
    );
    return r.sent;
  } finally {
    await Deno.remove(file).catch(() => {});
  }
}

export type SleeveStats = Record<string, number> & { rxDatagrams: number; rxReplayed: number };

/** What changed between two readings of the counters: the non-zero differences. */
export function statsDelta(a: SleeveStats, b: SleeveStats): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(b)) if (b[k] !== a[k]) out[k] = b[k] - (a[k] ?? 0);
  return out;
}

/** The victim's userspace-path counters (`GET /status/dataplane`). */
export async function sleeveStats(node: Node): Promise<SleeveStats> {
  const r = await curl(node, "GET", "http://127.0.0.1:6784/status/dataplane");
  if (r.status !== 200) throw new Error(`/status/dataplane on ${node.name}: ${r.status}`);
  return JSON.parse(r.body).sleeve;
}

/**
 * Captures UDP payloads on the underlay bridge matching `filter` (tcpdump) while `traffic` runs;
 * returns up to `count` of them.
 */
export async function captureUdp(
  c: Cluster,
  filter: string,
  count: number,
  traffic: () => Promise<unknown>,
): Promise<Uint8Array[]> {
  const file = await Deno.makeTempFile({ prefix: "wtatk-", suffix: ".pcap" });
  try {
    const cap = spawnIn(netnsPath(c.underlay), "timeout", [
      "60",
      "tcpdump",
      "-i",
      "br0",
      "--immediate-mode",
      "-U",
      "-n",
      "-s",
      "0",
      "-c",
      `${count}`,
      "-w",
      file,
      filter,
    ], { stdout: "null", stderr: "piped" });
    const errs = cap.stderr.pipeThrough(new TextDecoderStream()).getReader();
    await readUntil(errs, "listening on", "tcpdump");
    errs.releaseLock();
    cap.stderr.cancel().catch(() => {});
    await traffic();
    // Packets in flight get a moment; then the capture stops (it may have ended at `count`).
    const done = await Promise.race([cap.status.then(() => true), sleep(1_000).then(() => false)]);
    if (!done) {
      try {
        cap.kill("SIGTERM");
      } catch {
        // ended meanwhile
      }
      await cap.status;
    }
    return udpPayloads(await Deno.readFile(file));
  } finally {
    await Deno.remove(file).catch(() => {});
  }
}

/** UDP payloads of an Ethernet/IPv4 pcap file. */
export function udpPayloads(pcap: Uint8Array): Uint8Array[] {
  const dv = new DataView(pcap.buffer, pcap.byteOffset, pcap.byteLength);
  const little = dv.getUint32(0, true) === 0xa1b2c3d4;
  const out: Uint8Array[] = [];
  for (let o = 24; o + 16 <= pcap.length;) {
    const incl = dv.getUint32(o + 8, little);
    const pkt = pcap.subarray(o + 16, o + 16 + incl);
    o += 16 + incl;
    if (pkt.length < 14 + 20 + 8 || pkt[12] !== 0x08 || pkt[13] !== 0x00) continue;
    const ihl = (pkt[14] & 0x0f) * 4;
    if (pkt[14 + 9] !== 17) continue;
    out.push(pkt.slice(14 + ihl + 8));
  }
  return out;
}

/** `count` pings 0.2 s apart from a pod (iputils ping when installed, else busybox's). */
export function pings(c: Cluster, from: Cluster["pods"][number], to: string, count: number) {
  const [cmd, pre] = have("ping") ? ["ping", []] : ["busybox", ["ping"]];
  return c.run(from.netns, cmd, [...pre, "-i", "0.2", "-c", `${count}`, "-W", "1", to], 60_000);
}
