/**
 * Userspace path, receiving side (a Worker): UDP → TAP. A tight loop of synchronous FFI calls takes
 * a batch of datagrams with recvmmsg (each may be several fragments coalesced by UDP GRO), puts
 * messages back together, authenticates and decrypts them when encrypted (under the key the header's
 * key id names, if this peer holds it; refusing replays), and decides by the header where each
 * message goes (forward.ts): frames for this peer are written with their virtio-net header
 * into the TAP, learning on which peer (the origin, not the relaying hop) each source MAC lives and
 * telling the sending Worker; messages for other peers, and broadcasts down the origin's tree, are
 * re-sealed for the next neighbour (under the relay key of the connection to it, with this
 * Worker's own counter) and sent on.
 */
/// <reference lib="deno.worker" />
import { open, ReplayWindow } from "./aead.ts";
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
  type SleeveWorkerInit,
  STAT,
} from "./messages.ts";
import type { PeerKeys } from "./keys.ts";
import { serveSleeveWorker, type SleeveWorkerBody } from "./worker_boot.ts";
import {
  AAD_LEN,
  forEachEntry,
  forEachFragment,
  type FragmentHeader,
  type MessageHeader,
  Reassembler,
  VNET_HDR_LEN,
} from "./format.ts";
import { SleeveSender } from "./sender.ts";
import { errno, libc, sockaddrIn } from "../../linux/mod.ts";
import { parseMac } from "../../addr/mod.ts";

const POLLIN = 1;
const EAGAIN = 11;
const MSG_DONTWAIT = 0x40;
const SEND_ARENA = 4 << 20;
const MAX_SENDS = 256;

const BATCH = 32;
const SLICE_MS = 20;
const IDLE_MS = 100;
const BUF = 65536 + 4096;
/** How often a still-valid learned MAC is re-announced to the sending Worker. */
const RELEARN_MS = 30_000;

/** A session key of a peer, with its own replay window (kept as long as the key is). */
interface RxKey {
  idHi: number;
  idLo: number;
  key: Uint8Array;
  /** Opens what the peer relays for others (origin ≠ sender), with its own replay window. */
  relay: Uint8Array;
  /** ms since 1970 after which it opens nothing (a previous connection's key); else Infinity. */
  until: number;
  replay: ReplayWindow;
  relayReplay: ReplayWindow;
}

interface RxPeer {
  name: string;
  keys: RxKey[];
}

/** The relay key of the connection to a neighbour, and its message counter (the nonce). */
interface RelayKey {
  id: Uint8Array;
  key: Uint8Array;
  seq: number;
}

/** A neighbour this Worker relays messages to. */
interface RxHop {
  name: number;
  saPtr: bigint;
  /** Encrypted: the current connection's relay key; null while there is none. */
  key: RelayKey | null;
  /** Unencrypted: this Worker's message counter towards it. */
  seq: number;
}

function start(init: SleeveWorkerInit): SleeveWorkerBody {
  const stats = new Float64Array(init.stats);
  const bufs = new Arena(BATCH * BUF);
  const mm = new MmsgArray(BATCH);
  for (let i = 0; i < BATCH; i++) mm.set(i, 0n, 0, bufs.base + BigInt(i * BUF), BUF);
  const pollfd = new Uint8Array(8);
  new DataView(pollfd.buffer).setInt32(0, init.udpFd, true);
  new DataView(pollfd.buffer).setInt16(4, POLLIN, true);
  const reasm = new Reassembler(256, 2000);
  let peers = new Map<number, RxPeer>();
  /** Key id (hex) → key, for every peer with a session (also those not on this path now). */
  let keys = new Map<string, RxKey>();
  let relayKeys = new Map<string, RelayKey>();
  const selfKey = macKeyFromString(init.self);
  let table: RouteTable<RxHop> = { self: selfKey, peers: new Map(), nameOf: (h) => h.name };
  let hops = new Map<string, RxHop>();
  const decision = newDecision<RxHop>();
  const rh: RouteHeader = { broadcast: false, sender: 0, origin: 0, dest: 0, hops: 0 };
  const sender = new SleeveSender({ ...init, maxSends: MAX_SENDS, arenaBytes: SEND_ARENA, stats });
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
  let now = Date.now();

  function setPeers(list: SleevePeer[], _broadcast: string[], update: PeerKeys[]): void {
    const nextKeys = new Map<string, RxKey>();
    const keysOf = new Map<string, RxKey[]>();
    const nextRelay = new Map<string, RelayKey>();
    const relayOf = new Map<string, RelayKey>();
    for (const k of update) {
      if (k.tx) {
        const rk = relayKeys.get(k.tx.id) ?? { id: hexToBytes(k.tx.id), key: k.tx.relay, seq: 0 };
        nextRelay.set(k.tx.id, rk);
        relayOf.set(k.peer, rk);
      }
      const mine: RxKey[] = [];
      for (const r of k.rx) {
        const key = keys.get(r.id) ?? {
          idHi: parseInt(r.id.slice(0, 8), 16),
          idLo: parseInt(r.id.slice(8), 16),
          key: r.key,
          relay: r.relay,
          until: r.until,
          replay: new ReplayWindow(),
          relayReplay: new ReplayWindow(),
        };
        key.until = r.until;
        nextKeys.set(r.id, key);
        mine.push(key);
      }
      keysOf.set(k.peer, mine);
    }
    keys = nextKeys;
    relayKeys = nextRelay;
    const { slot: hop, slots: nextHops } = neighbourSlots(list, init.self, (p, i): RxHop => {
      names.bytes.set(sockaddrIn(p.addr, p.port), i * 16);
      return {
        name: macKeyFromString(p.name),
        saPtr: names.base + BigInt(i * 16),
        key: relayOf.get(p.name) ?? null,
        seq: hops.get(p.name)?.seq ?? 0,
      };
    });
    const next = new Map<number, RxPeer>();
    const routes = new Map<number, RouteEntry<RxHop>>();
    for (const p of list) {
      if (p.name === init.self) continue;
      const k = macKeyFromString(p.name);
      next.set(k, { name: p.name, keys: keysOf.get(p.name) ?? [] });
      routes.set(k, {
        deliverBroadcast: p.sleeve,
        via: hop(p.via),
        children: p.children.map(hop).filter((h) => h !== null),
      });
    }
    peers = next;
    hops = nextHops;
    table = { self: selfKey, peers: routes, nameOf: (h) => h.name };
  }

  function keyFor(peer: RxPeer, h: FragmentHeader): RxKey | undefined {
    for (const k of peer.keys) {
      if (k.idHi === h.idHi && k.idLo === h.idLo && now < k.until) return k;
    }
    return undefined;
  }

  /** Writes the frames into the TAP; their source MACs live on `origin` (undefined: unknown). */
  function deliver(body: Uint8Array, bodyLen: number, origin: string | undefined): void {
    const ok = forEachEntry(body, bodyLen, (off, n) => {
      const src = macKeyAt(body, off + VNET_HDR_LEN + 6);
      const a = announced.get(src);
      if (origin !== undefined && (!a || a.peer !== origin || now - a.at > RELEARN_MS)) {
        announced.set(src, { peer: origin, at: now });
        learnedOut.push([src, origin]);
      }
      if (libc.write(init.tapFd, body.subarray(off, off + n), BigInt(n)) < 0) {
        stats[STAT.rxDropped]++;
      } else {
        stats[STAT.rxFrames]++;
        stats[STAT.rxBytes] += n - VNET_HDR_LEN;
      }
    });
    if (!ok) stats[STAT.rxDropped]++;
  }

  function onFragment(buf: Uint8Array, h: FragmentHeader): void {
    const senderKey = macKeyAt(buf, h.senderOff);
    const peer = peers.get(senderKey);
    // Unknown senders, and plaintext when we encrypt (or the reverse), are refused outright.
    if (!peer || h.encrypted !== init.encrypted) {
      stats[STAT.rxDropped]++;
      return;
    }
    const originKey = macKeyAt(buf, h.originOff);
    if (!init.encrypted) {
      const body = reasm.add(buf, h, now);
      if (body) route(buf, h, senderKey, originKey, body);
      return;
    }
    const key = keyFor(peer, h);
    if (!key) {
      stats[STAT.rxNoKey]++;
      return;
    }
    // What the sender relays for others is sealed under its relay key, with its own counter.
    const relayed = originKey !== senderKey;
    const replay = relayed ? key.relayReplay : key.replay;
    if (!replay.check(h.seq)) {
      stats[STAT.rxReplayed]++;
      return;
    }
    const body = reasm.add(buf, h, now);
    if (!body) return;
    const aad = buf.subarray(h.headerOff, h.headerOff + AAD_LEN);
    const plain = open(relayed ? key.relay : key.key, h.seq, aad, body);
    if (!plain) {
      stats[STAT.rxAuthFailed]++;
      return;
    }
    if (!replay.accept(h.seq)) {
      stats[STAT.rxReplayed]++;
      return;
    }
    route(buf, h, senderKey, originKey, plain);
  }

  /** An authenticated message: into the TAP, on to neighbours, or both (forward.ts). */
  function route(
    buf: Uint8Array,
    h: FragmentHeader,
    senderKey: number,
    originKey: number,
    body: Uint8Array,
  ): void {
    rh.broadcast = h.broadcast;
    rh.sender = senderKey;
    rh.origin = originKey;
    rh.dest = h.broadcast ? 0 : macKeyAt(buf, h.destOff);
    rh.hops = h.hops;
    const d = decide(rh, table, decision);
    if (d.drop !== null) stats[STAT.noRoute]++;
    for (const hop of d.forward) relay(hop, buf, h, body);
    if (d.deliver) deliver(body, body.length, peers.get(originKey)?.name);
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

  function batch(): number {
    const n = libc.recvmmsg(init.udpFd, mm.buffer, BATCH, MSG_DONTWAIT, null);
    if (n <= 0) {
      if (n < 0 && errno() !== EAGAIN) stats[STAT.rxDropped]++;
      return 0;
    }
    for (let i = 0; i < n; i++) {
      const len = mm.received(i);
      const buf = bufs.bytes.subarray(i * BUF, i * BUF + len);
      stats[STAT.rxDatagrams]++;
      if (!forEachFragment(buf, len, (h) => onFragment(buf, h))) stats[STAT.rxDropped]++;
    }
    if (sender.pending) sender.flush();
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
        init.port.postMessage(learnedOut);
        learnedOut = [];
      }
      reasm.expire(now);
      await new Promise((r) => setTimeout(r, 0));
    }
  }

  return { setPeers, loop };
}

serveSleeveWorker("rx", start);
