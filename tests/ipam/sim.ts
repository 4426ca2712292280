/**
 * TEST DOUBLE: a simulated cluster of IPAM allocators on an in-memory gossip network (no sockets,
 * no timers). Messages queue and are delivered when the test says so; partitions drop what is in
 * flight between groups; a crash loses in-flight messages to the peer and keeps only what it
 * persisted. Used by the property tests.
 */
import { describeCause } from "../../net/cause.ts";
import type { Cidr } from "../../net/addr/mod.ts";
import { Allocator } from "../../net/ipam/allocator.ts";
import {
  type Allocation,
  type InitMode,
  keyString,
  type Persistence,
} from "../../net/ipam/types.ts";
import { Ring } from "../../net/ipam/ring.ts";
import { entryOrder } from "../../net/ipam/token.ts";
import { TestKeyring } from "../../net/mesh/testing/keyring.ts";
import { decodeMeta, decodeUnicast, encodeMeta, type PersistedMeta } from "../../net/ipam/wire.ts";

interface Msg {
  from: string;
  to: string;
  kind: "gossip" | "unicast";
  data: Uint8Array;
}

/** What a peer has on disk: exactly what its allocator persisted. */
class MemoryStore implements Persistence {
  /** Serialised, as a real store would, so later mutations cannot leak into it. */
  meta = encodeMeta({ ring: null, paxos: null });
  allocs = new Map<string, Allocation>();
  saveMeta(m: PersistedMeta) {
    this.meta = encodeMeta(m);
  }
  putAllocation(a: Allocation) {
    this.allocs.set(keyString(a), { ...a });
  }
  deleteAllocations(keys: { id: string; ifname: string }[]) {
    for (const k of keys) this.allocs.delete(keyString(k));
  }
}

export interface SimPeer {
  name: string;
  init: InitMode;
  store: MemoryStore;
  alloc: Allocator;
  alive: boolean;
  removed: boolean;
  group: number;
}

export class SimCluster {
  readonly peers: SimPeer[] = [];
  queue: Msg[] = [];
  now = 1_000_000;
  readonly problems: string[] = [];
  #connected = new Set<string>();
  /** Donations delivered (space that moved between peers). */
  donations = 0;
  /** Every peer's signing key (real Ed25519 signatures). */
  readonly keyring = new TestKeyring();
  /** The name of a made-up peer that sends forgeries (byzantine.ts), connected to every peer. */
  byzantine: string | null = null;

  constructor(readonly range: Cidr, inits: InitMode[], readonly random: () => number) {
    inits.forEach((init, i) => {
      const name = `00:00:00:00:00:${(i + 1).toString(16).padStart(2, "0")}`;
      const store = new MemoryStore();
      const p: SimPeer = {
        name,
        init,
        store,
        alloc: null as unknown as Allocator,
        alive: true,
        removed: false,
        group: 0,
      };
      p.alloc = this.#start(p);
      this.peers.push(p);
    });
    this.topologyChanged();
  }

  static names(n: number): string[] {
    return Array.from(
      { length: n },
      (_, i) => `00:00:00:00:00:${(i + 1).toString(16).padStart(2, "0")}`,
    );
  }

  #start(p: SimPeer): Allocator {
    const a = new Allocator({
      self: p.name,
      range: this.range,
      init: p.init,
      persist: p.store,
      signer: this.keyring.view(p.name),
      now: () => this.now,
      random: this.random,
      restored: { meta: decodeMeta(p.store.meta), allocations: [...p.store.allocs.values()] },
      hintIntervalMs: 3000,
    });
    a.attach({
      broadcast: (data) => {
        for (const q of this.peers) {
          if (q !== p && this.reachable(p, q)) {
            this.queue.push({ from: p.name, to: q.name, kind: "gossip", data });
          }
        }
      },
      unicast: (to, data) => {
        const q = this.peer(to);
        if (!q || !this.reachable(p, q)) return false;
        this.queue.push({ from: p.name, to, kind: "unicast", data });
        return true;
      },
    });
    return a;
  }

  peer(name: string): SimPeer | undefined {
    return this.peers.find((p) => p.name === name);
  }

  reachable(a: SimPeer, b: SimPeer): boolean {
    return a.alive && b.alive && a.group === b.group;
  }

  live(): SimPeer[] {
    return this.peers.filter((p) => p.alive);
  }

  /**
   * Tells every live peer the topology, then lets pairs that were not connected before exchange
   * full state (what the mesh does when a connection comes up).
   */
  topologyChanged(): void {
    const now = new Set<string>();
    for (const p of this.live()) {
      p.alloc.setPeers([
        ...this.peers.map((q) => ({
          name: q.name,
          nickname: `n${q.name.slice(-2)}`,
          reachable: this.reachable(p, q),
        })),
        // A Byzantine peer is connected to everyone (tests/ipam/byzantine.ts).
        ...(this.byzantine ? [{ name: this.byzantine, nickname: "byz", reachable: true }] : []),
      ]);
      for (const q of this.live()) {
        if (q !== p && this.reachable(p, q)) now.add(`${p.name}>${q.name}`);
      }
    }
    for (const p of this.live()) {
      let s: Uint8Array | null = null;
      for (const q of this.live()) {
        const pair = `${p.name}>${q.name}`;
        if (!now.has(pair) || this.#connected.has(pair)) continue;
        s ??= p.alloc.fullState();
        this.queue.push({ from: p.name, to: q.name, kind: "gossip", data: s });
      }
    }
    this.#connected = now;
  }

  /** Delivers up to `n` queued messages (in a random order: the network reorders). */
  deliver(n: number): void {
    for (let i = 0; i < n && this.queue.length > 0; i++) {
      const idx = Math.floor(this.random() * Math.min(this.queue.length, 4));
      const [m] = this.queue.splice(idx, 1);
      const from = this.peer(m.from), to = this.peer(m.to);
      if (!to) continue; // to the Byzantine peer: it ignores what it gets
      // A partition or crash since sending lost it (the sender being dead does not: it was sent).
      if (!to.alive || (from && from.group !== to.group)) continue;
      try {
        if (m.kind === "unicast") {
          if (decodeUnicast(m.data).t === "give") this.donations++;
          to.alloc.onUnicast(m.from, m.data);
        } else {
          // What was new is forwarded further, as the mesh does.
          const fwd = to.alloc.onGossip(m.from, m.data);
          if (fwd) {
            for (const q of this.peers) {
              if (q !== to && q.name !== m.from && this.reachable(to, q)) {
                this.queue.push({ from: to.name, to: q.name, kind: "gossip", data: fwd });
              }
            }
          }
        }
      } catch (e) {
        this.problems.push(`${to.name}: ${describeCause(e)}`);
      }
    }
  }

  /** Every live peer sends its full state to every peer it reaches (the mesh's periodic gossip). */
  antiEntropy(): void {
    for (const p of this.live()) {
      const s = p.alloc.fullState();
      for (const q of this.live()) {
        if (q !== p && this.reachable(p, q)) {
          this.queue.push({ from: p.name, to: q.name, kind: "gossip", data: s });
        }
      }
    }
  }

  tickAll(): void {
    for (const p of this.live()) p.alloc.tick();
  }

  /**
   * Delivers everything and lets timers run until nothing moves (or for a bounded time: consensus
   * without a live quorum retries for ever, which the agreement check then reports).
   */
  quiesce(): void {
    this.antiEntropy();
    for (let round = 0; round < 30; round++) {
      this.deliver(this.queue.length);
      this.now += 600;
      this.tickAll();
      if (this.queue.length === 0) return;
    }
  }

  partition(groups: number[]): void {
    this.peers.forEach((p, i) => (p.group = groups[i % groups.length]));
    this.topologyChanged();
  }

  heal(): void {
    for (const p of this.peers) p.group = 0;
    this.topologyChanged();
  }

  kill(p: SimPeer): void {
    p.alive = false;
    this.topologyChanged();
  }

  /** Crash and start again from what was persisted. */
  restart(p: SimPeer): void {
    this.queue = this.queue.filter((m) => m.to !== p.name);
    p.alloc = this.#start(p);
    p.alive = true;
    // Its connections were new: drop them from the known set so state is exchanged again.
    this.#connected = new Set([...this.#connected].filter((k) => !k.includes(p.name)));
    this.topologyChanged();
  }

  /**
   * The join of every ring still in the cluster's future (live or restartable peers): per token
   * the highest state any of them holds (the CRDT join of their views).
   */
  joinedRing(): Ring {
    const { start, end } = this.peers[0].alloc.ring;
    const best = new Map<number, ReturnType<Ring["entries"]>[number]>();
    let seed: string | null = null;
    for (const p of this.peers) {
      if (p.removed) continue;
      seed ??= p.alloc.ring.seed;
      for (const e of p.alloc.ring.entries()) {
        const b = best.get(e.start);
        if (!b || entryOrder(e, b) > 0) best.set(e.start, e);
      }
    }
    const r = new Ring(start, end);
    if (seed !== null) {
      r.restore({ seed, entries: [...best.values()].sort((a, b) => a.start - b.start) });
    }
    return r;
  }
}
