/**
 * Userspace path, receiving side (a Worker): UDP → TAP. A tight loop of synchronous FFI calls takes
 * a batch of datagrams with recvmmsg (each may be several fragments coalesced by UDP GRO, each
 * with its source address), hands each to the receiver (receive.ts: checks, authentication,
 * reassembly), and decides by the header where each accepted message goes (forward.ts): frames for
 * this peer are written with their virtio-net header into the TAP, learning on which peer (the
 * origin, not the relaying hop) each source MAC lives and telling the sending Worker; messages for
 * other peers, and broadcasts down the origin's tree, are re-sealed for the next neighbour (under
 * the relay key of the connection to it) and sent on. A datagram that makes anything throw costs a
 * counter (rxInternal), never the Worker.
 */
/// <reference lib="deno.worker" />
import { Arena, MmsgArray } from "./ffi_structs.ts";
import { macKeyAt, macKeyFromString } from "./frame.ts";
import {
  decide,
  neighbourSlots,
  newDecision,
  type RouteEntry,
  type RouteHeader,
  type RouteTable,
} from "./forward.ts";
import {
  hexToBytes,
  type LearnedMacs,
  type SleevePeer,
  type SleeveReport,
  type SleeveWorkerInit,
  STAT,
} from "./messages.ts";
import type { PeerKeys } from "./keys.ts";
import { serveSleeveWorker, type SleeveWorkerBody } from "./worker_boot.ts";
import { forEachEntry, type FragmentHeader, type MessageHeader, VNET_HDR_LEN } from "./format.ts";
import { SleeveReceiver, type Source } from "./receive.ts";
import { RefusalLog } from "./refusals.ts";
import { SleeveShared } from "./shared.ts";
import { SleeveSender } from "./sender.ts";
import { errno, libc, sockaddrIn } from "../../linux/mod.ts";
import { formatIPv4, parseMac } from "../../addr/mod.ts";

const POLLIN = 1;
const EAGAIN = 11;
const MSG_DONTWAIT = 0x40;
const SEND_ARENA = 4 << 20;
const MAX_SENDS = 256;

const BATCH = 32;
const SLICE_MS = 20;
const IDLE_MS = 100;
const BUF = 65536 + 4096;
const SOCKADDR = 16;
/** How often a still-valid learned MAC is re-announced to the sending Worker. */
const RELEARN_MS = 30_000;
const MAX_ANNOUNCED = 65_536;

/** The relay key of the connection to a neighbour. */
interface RelayKey {
  id: Uint8Array;
  key: Uint8Array;
}

/** A neighbour this Worker relays messages to. */
interface RxHop {
  name: number;
  saPtr: bigint;
  /** Encrypted: the current connection's relay key; null while there is none. */
  key: RelayKey | null;
}

function start(init: SleeveWorkerInit, report: (m: SleeveReport) => void): SleeveWorkerBody {
  const stats = new Float64Array(init.stats);
  const shared = new SleeveShared(init.shared);
  const bufs = new Arena(BATCH * BUF);
  const srcs = new Arena(BATCH * SOCKADDR);
  const srcView = new DataView(srcs.bytes.buffer);
  const mm = new MmsgArray(BATCH);
  // The kernel writes each datagram's source into its sockaddr (always 16 bytes for IPv4).
  for (let i = 0; i < BATCH; i++) {
    mm.set(i, srcs.base + BigInt(i * SOCKADDR), SOCKADDR, bufs.base + BigInt(i * BUF), BUF);
  }
  const pollfd = new Uint8Array(8);
  new DataView(pollfd.buffer).setInt32(0, init.udpFd, true);
  new DataView(pollfd.buffer).setInt16(4, POLLIN, true);
  const selfKey = macKeyFromString(init.self);
  let table: RouteTable<RxHop> = { self: selfKey, peers: new Map(), nameOf: (h) => h.name };
  const decision = newDecision<RxHop>();
  const rh: RouteHeader = { broadcast: false, sender: 0, origin: 0, dest: 0, hops: 0 };
  const sender = SleeveSender.of(init, stats, shared, {
    maxSends: MAX_SENDS,
    arenaBytes: SEND_ARENA,
  });
  const names = new Arena(16 * 4096); // one sockaddr_in per neighbour
  const fh: MessageHeader = {
    encrypted: init.encrypted,
    sender: parseMac(init.self),
    keyId: hexToBytes(init.epoch),
    seq: 0,
    origin: new Uint8Array(6),
    dest: null,
    hops: 0,
  };
  const fhDest = new Uint8Array(6);
  const announced = new Map<number, { peer: string; at: number }>();
  let learnedOut: LearnedMacs = [];
  let port = init.port;
  let now = Date.now();
  let restored = init.restart;
  // Per source address (ports are as easy to vary as to forge), at most 64 a time.
  const refusals = new RefusalLog(10_000, 64);
  const receiver = new SleeveReceiver({
    self: init.self,
    encrypted: init.encrypted,
    stats,
    tops: shared.tops,
    onMessage: route,
    onRefused: (source, reason) => refusals.note(ipOf(source), reason),
  });

  function setPeers(list: SleevePeer[], _broadcast: string[], update: PeerKeys[]): void {
    receiver.setPeers(list, update, restored);
    restored = false;
    const relayOf = new Map<string, RelayKey>();
    for (const k of update) {
      if (k.tx) relayOf.set(k.peer, { id: hexToBytes(k.tx.id), key: k.tx.relay });
    }
    const { slot: hop } = neighbourSlots(list, init.self, (p, i): RxHop => {
      names.bytes.set(sockaddrIn(p.addr, p.port), i * 16);
      return {
        name: macKeyFromString(p.name),
        saPtr: names.base + BigInt(i * 16),
        key: relayOf.get(p.name) ?? null,
      };
    });
    const routes = new Map<number, RouteEntry<RxHop>>();
    for (const p of list) {
      if (p.name === init.self) continue;
      routes.set(macKeyFromString(p.name), {
        deliverBroadcast: p.sleeve,
        via: hop(p.via),
        children: p.children.map(hop).filter((h) => h !== null),
      });
    }
    table = { self: selfKey, peers: routes, nameOf: (h) => h.name };
  }

  /** Writes the frames into the TAP; their source MACs live on `origin` (undefined: unknown). */
  function deliver(body: Uint8Array, origin: string | undefined): void {
    const ok = forEachEntry(body, body.length, (off, n) => {
      const src = macKeyAt(body, off + VNET_HDR_LEN + 6);
      const a = announced.get(src);
      if (origin !== undefined && (!a || a.peer !== origin || now - a.at > RELEARN_MS)) {
        if (announced.size >= MAX_ANNOUNCED) announced.clear(); // bounded: re-announced anew
        announced.set(src, { peer: origin, at: now });
        learnedOut.push([src, origin]);
      }
      if (libc.write(init.tapFd, body.subarray(off, off + n), BigInt(n)) < 0) {
        stats[STAT.rxTapFailed]++;
      } else {
        stats[STAT.rxFrames]++;
        stats[STAT.rxBytes] += n - VNET_HDR_LEN;
      }
    });
    if (!ok) stats[STAT.rxBadEntries]++;
  }

  /** An accepted message: into the TAP, on to neighbours, or both (forward.ts). */
  function route(buf: Uint8Array, h: FragmentHeader, body: Uint8Array, senderKey: number): void {
    const originKey = macKeyAt(buf, h.originOff);
    rh.broadcast = h.broadcast;
    rh.sender = senderKey;
    rh.origin = originKey;
    rh.dest = h.broadcast ? 0 : macKeyAt(buf, h.destOff);
    rh.hops = h.hops;
    const d = decide(rh, table, decision);
    if (d.drop !== null) stats[STAT.noRoute]++;
    for (const hop of d.forward) relay(hop, buf, h, body);
    if (d.deliver) deliver(body, receiver.peerName(originKey));
  }

  /** Sends `body` on to `hop` with the same origin and destination and one hop less. */
  function relay(hop: RxHop, buf: Uint8Array, h: FragmentHeader, body: Uint8Array): void {
    fh.origin.set(buf.subarray(h.originOff, h.originOff + 6));
    if (h.broadcast) fh.dest = null;
    else {
      fhDest.set(buf.subarray(h.destOff, h.destOff + 6));
      fh.dest = fhDest;
    }
    fh.hops = h.hops - 1;
    if (init.encrypted && !hop.key) {
      stats[STAT.txNoKey]++;
      return;
    }
    sender.queue(hop, fh, [body]);
    stats[STAT.relayed]++;
  }

  const ipOf = (s: Source) => Math.floor(s / 65536);

  /** Where datagram i came from (its sockaddr_in). */
  function sourceAt(i: number): Source {
    const o = i * SOCKADDR;
    return srcView.getUint32(o + 4) * 65536 + srcView.getUint16(o + 2);
  }

  function batch(): number {
    const n = libc.recvmmsg(init.udpFd, mm.buffer, BATCH, MSG_DONTWAIT, null);
    if (n <= 0) {
      if (n < 0 && errno() !== EAGAIN) stats[STAT.rxRecvFailed]++;
      return 0;
    }
    for (let i = 0; i < n; i++) {
      const len = mm.received(i);
      const buf = bufs.bytes.subarray(i * BUF, i * BUF + len);
      try {
        receiver.datagram(buf, len, sourceAt(i), now);
      } catch (e) {
        stats[STAT.rxInternal]++;
        refusals.note(ipOf(sourceAt(i)), `internal_rx: ${String(e).slice(0, 200)}`);
      }
    }
    try {
      if (sender.pending) sender.flush();
    } catch (e) {
      sender.reset();
      stats[STAT.rxInternal]++;
      refusals.note("relay", `internal_rx: ${String(e).slice(0, 200)}`);
    }
    return n;
  }

  async function loop(running: () => boolean): Promise<void> {
    while (running()) {
      // Busy: batches back to back, yielding every SLICE_MS for control messages. Idle: one
      // poll of up to IDLE_MS, then yield.
      const until = performance.now() + SLICE_MS;
      while (performance.now() < until) {
        now = Date.now();
        if (batch() === 0 && libc.poll(pollfd, 1n, IDLE_MS) <= 0) break;
      }
      if (learnedOut.length > 0) {
        port.postMessage(learnedOut);
        learnedOut = [];
      }
      receiver.expire(now);
      for (const r of refusals.due(now)) {
        const source = typeof r.source === "number" ? formatIPv4(r.source) : r.source;
        report({ type: "refused", role: "rx", source, reasons: r.reasons });
      }
      await new Promise((r) => setTimeout(r, 0));
    }
  }

  return {
    setPeers,
    setPort(p) {
      // A new sending Worker knows no learned MAC yet: tell it each again as traffic shows it.
      port = p;
      announced.clear();
    },
    loop,
  };
}

serveSleeveWorker("rx", start);
