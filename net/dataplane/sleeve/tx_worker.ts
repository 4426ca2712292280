/**
 * Userspace path, sending side (a Worker): TAP → UDP. A tight loop of synchronous FFI calls reads
 * a batch of frames (virtio-net header + frame, TSO superframes included) from the TAP, picks the
 * destination peer for each by destination MAC (or the broadcast tree), packs frames per
 * destination into messages addressed to it and sent to the neighbour on the mesh's route to it
 * (forward.ts: relays pass them on), seals them when encrypted (under the current session
 * key of the connection to that neighbour; no session, nothing sent), cuts them into MTU-sized
 * fragments and sends everything with one sendmmsg (each message one UDP GSO send). Between
 * batches (every ~10 ms) it yields to take control messages.
 */
/// <reference lib="deno.worker" />
import { Arena } from "./ffi_structs.ts";
import { isGroupDst, macKeyAt, macKeyFromString, macKeyToString } from "./frame.ts";
import { buildProbe, isProbe, parseProbe, PROBE_REPLY, PROBE_REQUEST } from "../fastpath/probe.ts";
import { fragNeeded, isIpv4DontFragment } from "./icmp.ts";
import { MacTable } from "./mac_table.ts";
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
import { neighbourSlots } from "./forward.ts";
import {
  DEFAULT_HOPS,
  fragmentPayload,
  type MessageHeader,
  TAG_LEN,
  VNET_HDR_LEN,
} from "./format.ts";
import { RefusalLog } from "./refusals.ts";
import { SleeveSender } from "./sender.ts";
import { SleeveShared } from "./shared.ts";
import { libc, sockaddrIn } from "../../linux/mod.ts";
import { parseMac } from "../../addr/mod.ts";

const POLLIN = 1;

const BATCH = 64;
const SLOT = 4 + VNET_HDR_LEN + 14 + 65535 + 32;
const SEND_ARENA = 8 << 20;
const MAX_SENDS = 512;
const SLICE_MS = 20;
const IDLE_MS = 100;

/** A session key (its nonces come from the Worker's sequence numbers: shared.ts). */
interface TxKey {
  id: Uint8Array;
  key: Uint8Array;
}

/** A neighbour messages are sent to. */
interface TxHop {
  name: string;
  saPtr: bigint;
  /** Encrypted: the current session key, null while there is no session. */
  key: TxKey | null;
}

/** A peer frames are addressed to (on the userspace path), with the frames of this batch. */
interface TxDest {
  name: string;
  bytes: Uint8Array;
  /** The neighbour on the route to it; null: no route now. */
  hop: TxHop | null;
  pending: number[];
}

function start(init: SleeveWorkerInit, report: (m: SleeveReport) => void): SleeveWorkerBody {
  const stats = new Float64Array(init.stats);
  const shared = new SleeveShared(init.shared);
  const refusals = new RefusalLog();
  const readArena = new Arena(BATCH * SLOT);
  const rb = readArena.bytes;
  const rdv = new DataView(rb.buffer);
  const readInto = Array.from(
    { length: BATCH },
    (_, i) => rb.subarray(i * SLOT + 4, (i + 1) * SLOT),
  );
  const readLen = BigInt(SLOT - 4);
  const sender = SleeveSender.of(init, stats, shared, {
    maxSends: MAX_SENDS,
    arenaBytes: SEND_ARENA,
  });
  const names = new Arena(16 * 4096); // one sockaddr_in per peer slot
  const pollfd = new Uint8Array(8);
  new DataView(pollfd.buffer).setInt32(0, init.tapFd, true);
  new DataView(pollfd.buffer).setInt16(4, POLLIN, true);
  const icmpBuf = new Uint8Array(VNET_HDR_LEN + 14 + 20 + 8 + 60 + 8);
  // A message of frames fits one fragment (with its tag when sealed).
  const packLimit = fragmentPayload(init.segSize) - (init.encrypted ? TAG_LEN : 0);
  const header: MessageHeader = {
    encrypted: init.encrypted,
    sender: parseMac(init.self),
    keyId: hexToBytes(init.epoch), // encrypted: each message's key id instead
    seq: 0,
    origin: parseMac(init.self),
    dest: null,
    hops: DEFAULT_HOPS,
  };
  const probeKey = macKeyFromString(init.probeMac);
  const probeBytes = parseMac(init.probeMac);
  const probeOut = new Uint8Array(VNET_HDR_LEN + 60);

  let dests: TxDest[] = [];
  /** MAC → index into dests; -1: lives on a peer reached by the fast path (not ours to send). */
  let gossiped = new Map<number, number>();
  let byName = new Map<string, number>();
  /** Where this peer's broadcasts (and frames for unknown MACs) go, and this batch's of them. */
  let broadcastHops: TxHop[] = [];
  const broadcastPending: number[] = [];
  /** Key id (hex) → key, for every peer with a session (also those not on this path now). */
  let keys = new Map<string, TxKey>();
  const learned = new MacTable<string>(init.macTtlMs);

  function setPeers(list: SleevePeer[], broadcast: string[], update: PeerKeys[]): void {
    const nextKeys = new Map<string, TxKey>();
    const keyOf = new Map<string, TxKey>();
    for (const k of update) {
      if (!k.tx) continue;
      const key = keys.get(k.tx.id) ?? { id: hexToBytes(k.tx.id), key: k.tx.key };
      nextKeys.set(k.tx.id, key);
      keyOf.set(k.peer, key);
    }
    keys = nextKeys;
    const { slot: hop } = neighbourSlots(list, init.self, (p, i): TxHop => {
      names.bytes.set(sockaddrIn(p.addr, p.port), i * 16);
      return { name: p.name, saPtr: names.base + BigInt(i * 16), key: keyOf.get(p.name) ?? null };
    });
    const next: TxDest[] = [];
    const nextGossip = new Map<number, number>();
    const nextByName = new Map<string, number>();
    for (const p of list) {
      if (p.name === init.self) continue;
      if (!p.sleeve) {
        for (const m of p.macs) nextGossip.set(macKeyFromString(m), -1);
        continue;
      }
      const i = next.length;
      next.push({ name: p.name, bytes: parseMac(p.name), hop: hop(p.via), pending: [] });
      nextByName.set(p.name, i);
      for (const m of p.macs) nextGossip.set(macKeyFromString(m), i);
    }
    broadcastHops = broadcast.map(hop).filter((h) => h !== null);
    dests = next;
    gossiped = nextGossip;
    byName = nextByName;
  }

  function emit(p: TxHop, dest: Uint8Array | null, entries: Uint8Array[]): void {
    header.dest = dest;
    stats[STAT.txDatagrams] += sender.queue(p, header, entries);
  }

  function tooBig(slot: number, n: number): boolean {
    const f = slot + 4 + VNET_HDR_LEN;
    const frameLen = n - VNET_HDR_LEN;
    if (rb[slot + 4 + 1] !== 0 || frameLen - 14 <= init.mtu) return false; // GSO or fits
    const frame = rb.subarray(f, f + frameLen);
    if (!isIpv4DontFragment(frame)) return false;
    const reply = fragNeeded(frame, init.mtu);
    if (reply) {
      icmpBuf.fill(0, 0, VNET_HDR_LEN);
      icmpBuf.set(reply, VNET_HDR_LEN);
      libc.write(init.tapFd, icmpBuf, BigInt(VNET_HDR_LEN + reply.length));
      stats[STAT.txIcmpTooBig]++;
    }
    return true;
  }

  /** Fast-path probes are answered (requests) or reported (replies), never forwarded. */
  function probe(f: number, frameLen: number): void {
    const frame = rb.subarray(f, f + frameLen);
    if (macKeyAt(frame, 0) !== probeKey) return;
    const p = parseProbe(frame);
    if (!p) return;
    if (p.kind === PROBE_REQUEST) {
      probeOut.set(buildProbe(frame.subarray(6, 12), probeBytes, PROBE_REPLY, p.seq), VNET_HDR_LEN);
      libc.write(init.tapFd, probeOut, BigInt(probeOut.length));
      // The main thread may probe back at once (dataplane.ts onProbeRequest).
      self.postMessage({ type: "probe-request", from: macKeyToString(macKeyAt(frame, 6)) });
    } else {
      self.postMessage({
        type: "probe-reply",
        from: macKeyToString(macKeyAt(frame, 6)),
        seq: p.seq,
      });
    }
  }

  function batch(now: number): number {
    let count = 0;
    for (; count < BATCH; count++) {
      const slot = count * SLOT;
      const n = Number(libc.read(init.tapFd, readInto[count], readLen));
      if (n <= 0) break;
      rdv.setUint32(slot, n);
      if (n < VNET_HDR_LEN + 14 || tooBig(slot, n)) continue;
      const f = slot + 4 + VNET_HDR_LEN;
      if (isProbe(rb, f)) {
        probe(f, n - VNET_HDR_LEN);
        continue;
      }
      // Split horizon: frames from MACs that live on other peers were delivered already.
      const src = macKeyAt(rb, f + 6);
      if (learned.lookup(src, now) !== undefined || gossiped.has(src)) continue;
      let to = -2;
      if (!isGroupDst(rb, f)) {
        const dst = macKeyAt(rb, f);
        const l = learned.lookup(dst, now);
        // Learned on a peer no longer on this path: the fast path carries it (-1).
        to = l !== undefined ? byName.get(l) ?? -1 : gossiped.get(dst) ?? -2;
        if (to === -1) continue;
      }
      stats[STAT.txFrames]++;
      stats[STAT.txBytes] += n - VNET_HDR_LEN;
      if (to >= 0) dests[to].pending.push(slot);
      else {
        stats[STAT.txFlooded]++;
        broadcastPending.push(slot);
      }
    }
    if (count === 0) return 0;
    for (const d of dests) {
      if (d.pending.length === 0) continue;
      if (d.hop === null) stats[STAT.noRoute] += d.pending.length;
      else sendTo(d.hop, d.bytes, d.pending);
      d.pending.length = 0;
    }
    if (broadcastPending.length > 0) {
      for (const h of broadcastHops) sendTo(h, null, broadcastPending);
      broadcastPending.length = 0;
    }
    if (sender.pending) sender.flush();
    return count;
  }

  /** Packs the frames in `slots` into messages for `dest` (null: broadcast) sent to `hop`. */
  function sendTo(hop: TxHop, dest: Uint8Array | null, slots: number[]): void {
    if (init.encrypted && !hop.key) {
      // No session with this neighbour (yet): never plaintext instead.
      stats[STAT.txNoKey] += slots.length;
      return;
    }
    let cur: Uint8Array[] = [];
    let curLen = 0;
    for (const slot of slots) {
      const len = 4 + rdv.getUint32(slot);
      if (cur.length > 0 && curLen + len > packLimit) {
        emit(hop, dest, cur);
        cur = [];
        curLen = 0;
      }
      cur.push(rb.subarray(slot, slot + len));
      curLen += len;
    }
    emit(hop, dest, cur);
  }

  async function loop(running: () => boolean): Promise<void> {
    let lastExpire = Date.now();
    while (running()) {
      // Busy: batches back to back, yielding every SLICE_MS for control messages. Idle: one
      // poll of up to IDLE_MS, then yield.
      const until = performance.now() + SLICE_MS;
      let now = Date.now();
      while (performance.now() < until) {
        if (guarded(now) === 0) {
          const ready = libc.poll(pollfd, 1n, IDLE_MS);
          now = Date.now();
          if (ready <= 0) break;
        }
      }
      if (now - lastExpire > 10_000) {
        learned.expire(now);
        lastExpire = now;
      }
      for (const r of refusals.due(now)) {
        report({ type: "refused", role: "tx", source: String(r.source), reasons: r.reasons });
      }
      await new Promise((r) => setTimeout(r, 0));
    }
  }

  /** A batch; one that throws costs its frames and a counter (txInternal), never the Worker. */
  function guarded(now: number): number {
    try {
      return batch(now);
    } catch (e) {
      for (const d of dests) d.pending.length = 0;
      broadcastPending.length = 0;
      sender.reset();
      stats[STAT.txInternal]++;
      refusals.note("tap", `internal_tx: ${String(e).slice(0, 200)}`);
      return 1;
    }
  }

  const learn = (e: MessageEvent<LearnedMacs>) => {
    const now = Date.now();
    for (const [mac, peer] of e.data) learned.learn(mac, peer, now);
  };
  init.port.onmessage = learn;
  return {
    setPeers,
    setPort(port) {
      port.onmessage = learn;
    },
    loop,
  };
}

serveSleeveWorker("tx", start);
