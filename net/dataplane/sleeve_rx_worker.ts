/**
 * Userspace path, receiving side (a Worker): UDP → TAP. A tight loop of synchronous FFI calls takes
 * a batch of datagrams with recvmmsg (each may be several fragments coalesced by UDP GRO), puts
 * messages back together, authenticates and decrypts them when encrypted (under the key the header's
 * key id names, if this peer holds it; refusing replays), writes each frame with its virtio-net header into the TAP, and learns where source
 * MACs live, telling the sending Worker.
 */
/// <reference lib="deno.worker" />
import { open, ReplayWindow } from "./aead.ts";
import { Arena, MmsgArray } from "./ffi_structs.ts";
import { macKeyAt, macKeyFromString } from "./frame.ts";
import {
  type LearnedMacs,
  type SleevePeer,
  type SleeveWorkerInit,
  STAT,
} from "./sleeve_messages.ts";
import type { PeerKeys } from "./sleeve_keys.ts";
import { serveSleeveWorker, type SleeveWorkerBody } from "./sleeve_worker_boot.ts";
import {
  AAD_LEN,
  forEachEntry,
  forEachFragment,
  type FragmentHeader,
  Reassembler,
  VNET_HDR_LEN,
} from "./sleeve_format.ts";
import { errno, libc } from "../linux/mod.ts";

const POLLIN = 1;
const EAGAIN = 11;
const MSG_DONTWAIT = 0x40;

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
  /** ms since 1970 after which it opens nothing (a previous connection's key); else Infinity. */
  until: number;
  replay: ReplayWindow;
}

interface RxPeer {
  name: string;
  keys: RxKey[];
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
  const announced = new Map<number, { peer: string; at: number }>();
  let learnedOut: LearnedMacs = [];
  let now = Date.now();

  function setPeers(list: SleevePeer[], update: PeerKeys[]): void {
    const nextKeys = new Map<string, RxKey>();
    const keysOf = new Map<string, RxKey[]>();
    for (const k of update) {
      const mine: RxKey[] = [];
      for (const r of k.rx) {
        const key = keys.get(r.id) ?? {
          idHi: parseInt(r.id.slice(0, 8), 16),
          idLo: parseInt(r.id.slice(8), 16),
          key: r.key,
          until: r.until,
          replay: new ReplayWindow(),
        };
        key.until = r.until;
        nextKeys.set(r.id, key);
        mine.push(key);
      }
      keysOf.set(k.peer, mine);
    }
    keys = nextKeys;
    const next = new Map<number, RxPeer>();
    for (const p of list) {
      if (p.name === init.self) continue;
      next.set(macKeyFromString(p.name), { name: p.name, keys: keysOf.get(p.name) ?? [] });
    }
    peers = next;
  }

  function keyFor(peer: RxPeer, h: FragmentHeader): RxKey | undefined {
    for (const k of peer.keys) {
      if (k.idHi === h.idHi && k.idLo === h.idLo && now < k.until) return k;
    }
    return undefined;
  }

  function deliver(body: Uint8Array, bodyLen: number, peer: RxPeer): void {
    const ok = forEachEntry(body, bodyLen, (off, n) => {
      const src = macKeyAt(body, off + VNET_HDR_LEN + 6);
      const a = announced.get(src);
      if (!a || a.peer !== peer.name || now - a.at > RELEARN_MS) {
        announced.set(src, { peer: peer.name, at: now });
        learnedOut.push([src, peer.name]);
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
    const peer = peers.get(macKeyAt(buf, h.senderOff));
    // Unknown senders, and plaintext when we encrypt (or the reverse), are refused outright.
    if (!peer || h.encrypted !== init.encrypted) {
      stats[STAT.rxDropped]++;
      return;
    }
    if (!init.encrypted) {
      const body = reasm.add(buf, h, now);
      if (body) deliver(body, body.length, peer);
      return;
    }
    const key = keyFor(peer, h);
    if (!key) {
      stats[STAT.rxNoKey]++;
      return;
    }
    if (!key.replay.check(h.seq)) {
      stats[STAT.rxReplayed]++;
      return;
    }
    const body = reasm.add(buf, h, now);
    if (!body) return;
    const aad = buf.subarray(h.headerOff, h.headerOff + AAD_LEN);
    const plain = open(key.key, h.seq, aad, body);
    if (!plain) {
      stats[STAT.rxAuthFailed]++;
      return;
    }
    if (!key.replay.accept(h.seq)) {
      stats[STAT.rxReplayed]++;
      return;
    }
    deliver(plain, plain.length, peer);
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
