/**
 * TEST DOUBLE (and the engine of bench/gossip_sim.ts): gossip at scale, simulated without
 * sockets. N peers already in a converged mesh; one new peer joins by connecting to one of them.
 * Every peer is the product's own topology store, key registry, verifying topology channel and
 * gossip layer (testing/sim_peer.ts), with real Ed25519 signatures: every entry a peer takes in is
 * verified. Reports how long until every peer knows the newcomer (its entry) and can route to it
 * (the connection both ends report), the gossip bytes it cost, and what verification cost.
 *
 * Network model: each link has a fixed one-way latency drawn uniformly from 1..50 ms, and each
 * message additionally takes its size at 1 Gbit/s. Processing is modelled for verification only:
 * a peer is busy for the measured mean cost of each signature it checks (one core per peer), and
 * what it sends while handling a message leaves when that work is done. Mesh shape: a random tree
 * plus ceil(log2 N)/2 random extra links per peer (average degree about log2 N + 2), as discovery
 * under a connection limit leaves it. The join mirrors what the daemon does when a connection is
 * established: both ends record it, broadcast their own entry and exchange full state.
 */
import { cpuUsage } from "node:process";
import { createHash } from "node:crypto";
import { decodeMessage } from "../codec.ts";
import type { PeerName } from "../gossip_channel.ts";
import { SigningKey, verifySignature } from "../signing.ts";
import { encodeUpdate, type PeerEntry, signEntry } from "../topology.ts";
import { type SimPeer, simPeer } from "./sim_peer.ts";

const BYTES_PER_MS = 1e9 / 8 / 1000;

function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const nameOf = (i: number): PeerName =>
  "02:00:" + [24, 16, 8, 0].map((s) => ((i >>> s) & 255).toString(16).padStart(2, "0")).join(":");

const keyOf = (i: number) =>
  SigningKey.fromSeed(new Uint8Array(createHash("sha256").update(`sim peer ${i}`).digest()));

interface Event {
  at: number;
  seq: number;
  to: number;
  /** A message from `from`, or deferred work of peer `to`. */
  from?: number;
  msg?: Uint8Array;
  run?: () => void;
}

/** A binary min-heap of events by (time, sequence). */
class Queue {
  #h: Event[] = [];
  get size() {
    return this.#h.length;
  }
  #less(a: Event, b: Event) {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }
  push(e: Event) {
    const h = this.#h;
    h.push(e);
    for (let i = h.length - 1; i > 0;) {
      const p = (i - 1) >> 1;
      if (!this.#less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }
  pop(): Event {
    const h = this.#h, top = h[0], last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      for (let i = 0;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < h.length && this.#less(h[l], h[m])) m = l;
        if (r < h.length && this.#less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}

export interface SimResult {
  peers: number;
  avgDegree: number;
  knownAllMs: number;
  routableAllMs: number;
  messages: number;
  totalBytes: number;
  bytesPerPeer: number;
  maxBytesOnePeer: number;
  /** Signature verifications over all peers during the join, and their measured mean cost. */
  verifications: number;
  verifyUs: number;
  /** Topology messages received, and verifications per message (mean). */
  topologyMessages: number;
  verificationsPerMessage: number;
  /** The most verifications in one task (handling a message, or a deferred slice). */
  maxVerificationsOneTask: number;
  /** The newcomer's verification of the whole topology, in simulated ms of one core. */
  newcomerVerifyMs: number;
  /** Entries dropped as forged or unverifiable: 0 in an honest mesh. */
  dropped: number;
  /** Steady-state cost of anti-entropy: a topology digest × fanout per period, per peer. */
  antiEntropyBytesPerSec: number;
  wallMs: number;
}

export interface SimOptions {
  /** Anti-entropy neighbours per period and the period (the daemon's defaults). */
  antiEntropyFanout: number;
  antiEntropyMs: number;
}

export function simulateJoin(n: number, seed: number, opts: SimOptions): SimResult {
  const wallStart = performance.now();
  const rnd = mulberry32(seed * 7919 + n);
  const total = n + 1; // index n is the newcomer
  const adj: Set<number>[] = Array.from({ length: total }, () => new Set());
  const link = (a: number, b: number) => {
    if (a !== b) adj[a].add(b), adj[b].add(a);
  };
  for (let i = 1; i < n; i++) link(i, Math.floor(rnd() * i));
  const extra = Math.ceil(Math.ceil(Math.log2(Math.max(n, 2))) / 2);
  for (let i = 0; i < n; i++) for (let k = 0; k < extra; k++) link(i, Math.floor(rnd() * n));
  const latency = new Map<number, number>();
  const lat = (a: number, b: number) => {
    const key = Math.min(a, b) * total + Math.max(a, b);
    let v = latency.get(key);
    if (v === undefined) latency.set(key, v = 1 + rnd() * 49);
    return v;
  };
  const uid = (i: number) => (i + 1).toString(16).padStart(16, "0");
  const record = (i: number, j: number) => ({
    name: nameOf(j),
    address: `10.${(j >> 16) & 255}.${(j >> 8) & 255}.${j & 255}:6783`,
    outbound: i < j,
    established: true,
  });
  const keys = Array.from({ length: total }, (_, i) => keyOf(i));
  // The converged topology every existing peer starts from, and its keys (shared, never mutated).
  const base = new Map<PeerName, PeerEntry>();
  const baseKeys = new Map<PeerName, Uint8Array>();
  for (let i = 0; i < n; i++) {
    const connections = [...adj[i]].map((j) => record(i, j));
    const body = { name: nameOf(i), nickname: `node${i}`, uid: uid(i), version: 2, connections };
    base.set(nameOf(i), signEntry(body, keys[i].publicKey, (d, p) => keys[i].sign(d, p)));
    baseKeys.set(nameOf(i), keys[i].publicKey);
  }

  // Verification, measured: its mean cost is what a peer is kept busy per signature. In CPU
  // time: on a shared machine the wall time includes waiting for a core (10x at load 30).
  let verifications = 0, verifyMs = 0;
  const verify: typeof verifySignature = (...args) => {
    const c = cpuUsage();
    const ok = verifySignature(...args);
    const used = cpuUsage(c);
    verifyMs += (used.user + used.system) / 1000;
    verifications++;
    return ok;
  };
  const meanVerifyMs = () => (verifications > 0 ? verifyMs / verifications : 0);

  const queue = new Queue();
  let now = 0, seq = 0, messages = 0, dropped = 0;
  /** While a peer handles an event: what it sends leaves after its work. */
  let outbox: Event[] | null = null;
  const busyUntil = new Array<number>(total).fill(0);
  const index = new Map<PeerName, number>();
  for (let i = 0; i < total; i++) index.set(nameOf(i), i);
  const up: Set<number>[] = Array.from({ length: total }, () => new Set());
  const peers: SimPeer[] = [];
  for (let i = 0; i < total; i++) {
    const id = { name: nameOf(i), nickname: `node${i}`, uid: uid(i) };
    const existing = i < n;
    peers.push(simPeer({
      id,
      signer: keys[i],
      base: existing ? base : undefined,
      baseKeys: existing ? baseKeys : undefined,
      version: 1,
      now: () => now,
      verify,
      defer: (run) => {
        if (outbox) outbox.push({ at: 0, seq: seq++, to: i, run });
        else queue.push({ at: now, seq: seq++, to: i, run });
      },
      onDrop: () => void dropped++,
      events: {
        onRejected: (ch, from, e) => {
          throw new Error(`${id.name} rejected ${ch} from ${from}: ${e}`);
        },
      },
      transport: {
        neighbours: () => [...up[i]].map(nameOf).sort(),
        send: (to, msg) => {
          const j = index.get(to)!;
          if (!up[i].has(j)) return false;
          messages++;
          const e = { at: lat(i, j) + msg.length / BYTES_PER_MS, seq: seq++, from: i, to: j, msg };
          if (outbox) outbox.push(e);
          else queue.push({ ...e, at: now + e.at });
          return true;
        },
      },
    }));
    if (existing) { for (const j of adj[i]) up[i].add(j); }
  }
  // Existing peers' own entries hold the connections of the shared snapshot.
  for (let i = 0; i < n; i++) peers[i].store.setConnections(base.get(nameOf(i))!.connections);

  /** Handles one event at peer `to` at time `at`, keeping it busy for the checks it made. */
  const handle = (to: number, at: number, work: () => void) => {
    now = Math.max(at, busyUntil[to]);
    const before = verifications;
    outbox = [];
    work();
    const done = now + (verifications - before) * meanVerifyMs();
    busyUntil[to] = done;
    for (const e of outbox) queue.push({ ...e, at: done + e.at });
    outbox = null;
    return verifications - before;
  };

  const S = n, B = Math.floor(rnd() * n);
  const sName = nameOf(S), bName = nameOf(B);
  // The join, as the daemon does it on an established connection.
  const establish = (x: number, y: number, outbound: boolean) => {
    up[x].add(y);
    const conns = [...peers[x].store.own.connections.filter((c) => c.name !== nameOf(y)), {
      ...record(x, y),
      outbound,
    }];
    peers[x].channel.broadcast(encodeUpdate([peers[x].store.setConnections(conns)]));
    peers[x].gossip.neighbourUp(nameOf(y));
  };
  establish(S, B, true);
  establish(B, S, false);
  const bVersion = peers[B].store.own.version;
  verifications = 0;
  verifyMs = 0;

  const knownAt = new Array<number>(total).fill(-1);
  const routableAt = new Array<number>(total).fill(-1);
  knownAt[S] =
    knownAt[B] =
    routableAt[S] =
    routableAt[B] =
      0;
  let known = 2, routable = 2, topologyMessages = 0, maxOne = 0, newcomerChecks = 0;
  while (queue.size > 0) {
    const e = queue.pop();
    const checks = handle(e.to, e.at, () => {
      if (e.run) return e.run();
      topologyMessages++;
      peers[e.to].gossip.receive(nameOf(e.from!), decodeMessage(e.msg!), e.msg!.length);
    });
    maxOne = Math.max(maxOne, checks);
    if (e.to === S) newcomerChecks += checks;
    const st = peers[e.to].store;
    if (knownAt[e.to] < 0 && st.lookup(sName)) knownAt[e.to] = now, known++;
    if (
      routableAt[e.to] < 0 && st.lookup(sName) && (st.lookup(bName)?.version ?? 0) >= bVersion
    ) routableAt[e.to] = now, routable++;
  }
  if (known !== total || routable !== total) {
    throw new Error(
      `join did not reach everyone: known ${known}, routable ${routable} of ${total}`,
    );
  }
  let totalBytes = 0, maxBytes = 0;
  for (const p of peers) {
    const s = p.gossip.stats.get("topology")!;
    totalBytes += s.sentBytes;
    maxBytes = Math.max(maxBytes, s.sentBytes + s.receivedBytes);
  }
  const degree = adj.slice(0, n).reduce((a, s) => a + s.size, 0) / n;
  return {
    peers: n,
    avgDegree: degree,
    knownAllMs: Math.max(...knownAt),
    routableAllMs: Math.max(...routableAt),
    messages,
    totalBytes,
    bytesPerPeer: totalBytes / total,
    maxBytesOnePeer: maxBytes,
    verifications,
    verifyUs: meanVerifyMs() * 1000,
    topologyMessages,
    verificationsPerMessage: verifications / Math.max(1, topologyMessages),
    maxVerificationsOneTask: maxOne,
    newcomerVerifyMs: newcomerChecks * meanVerifyMs(),
    dropped,
    antiEntropyBytesPerSec: (peers[B].topology.digest().length + 16) * opts.antiEntropyFanout /
      (opts.antiEntropyMs / 1000),
    wallMs: performance.now() - wallStart,
  };
}
