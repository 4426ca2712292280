/**
 * TEST DOUBLE: a Byzantine peer for the IPAM simulation. It is a made-up peer with a valid key for
 * its own name (as an attacker who joins the mesh has: the victim binds it at the handshake),
 * connected to every peer, that owns no space and never asks for any (a peer that was given space
 * can give it twice: docs/PROTOCOL.md §9, limits). It sends forged ring states: self-signed takes
 * of others' tokens (donation, takeover, version jumps, the cap), splits inside others' space
 * giving it to itself or to the victim, states claiming an honest author (its signature does not
 * verify), real states altered in transit, replays of real old states, and forged donations.
 * and free-space hints for honest peers (none left, stamped far ahead: would stop everyone asking
 * them for space), and, before the ring exists, consensus records for honest participants that
 * accept a member set including itself. It does not add a consensus record of its own (a known
 * limit: one more participant than expected stops the consensus, reported as a conflict).
 */
import {
  encodeGossip,
  encodeUnicast,
  type Gossip,
  IPAM_WIRE_VERSION,
} from "../../net/ipam/wire.ts";
import { type Acceptor, acceptorBytes } from "../../net/ipam/paxos.ts";
import {
  type Entry,
  entryOrder,
  MAX_VERSION,
  PAXOS_DOMAIN,
  sigToText,
  TOKEN_DOMAIN,
  tokenBytes,
} from "../../net/ipam/token.ts";
import type { RingState } from "../../net/ipam/ring.ts";
import type { SimCluster, SimPeer } from "./sim.ts";

export const BYZANTINE = "0b:00:00:00:00:66";

export const FORGERY_KINDS = 9;

export interface ForgeStats {
  sent: number;
  /** Forged states that a naive join (highest version wins, no signatures) would have applied. */
  wouldHaveWon: number;
}

export class Byzantine {
  readonly #replays: Uint8Array[] = [];
  readonly stats: ForgeStats = { sent: 0, wouldHaveWon: 0 };

  constructor(readonly c: SimCluster) {
    c.byzantine = BYZANTINE;
    c.topologyChanged();
  }

  /** Sends forgery `kind` to `victim`; `x` and `y` pick tokens and values. */
  forge(victim: SimPeer, kind: number, x: number, y: number): void {
    const ring = victim.alloc.ring;
    if (!victim.alive) return;
    if (!ring.initialised) {
      if (kind % FORGERY_KINDS === 8) this.#forgePaxos(victim, x);
      return;
    }
    // Keep some real messages to replay later.
    if (this.#replays.length < 16 || x % 7 === 0) {
      this.#replays[x % 16] = victim.alloc.fullState();
    }
    const es = ring.entries();
    const pick = (i: number) => es[i % es.length];
    const honest = this.c.peers.map((p) => p.name);
    const sign = (b: Omit<Entry, "sig">, key = BYZANTINE): Entry => ({
      ...b,
      sig: sigToText(this.c.keyring.key(key).sign(TOKEN_DOMAIN, tokenBytes(ring.scope, b))),
    });
    const entries: Entry[] = [];
    let data: Uint8Array | null = null;
    switch (kind % FORGERY_KINDS) {
      case 0: // take tokens, self-signed: as a donation, a takeover, a jump, the cap
        for (let i = 0; i < 1 + (y % 4); i++) {
          const e = pick(x + i * 13);
          const version =
            [e.version + 1, e.version + 2, e.version + 5000, MAX_VERSION][(y + i) % 4];
          entries.push(sign({
            start: e.start,
            owner: (y + i) % 3 === 0 ? victim.name : BYZANTINE,
            version,
            takeover: (x + i) % 2 === 1,
            author: BYZANTINE,
          }));
        }
        break;
      case 1: { // a split inside someone's space, given to itself or to the victim
        const start = ring.start + (x % ring.size);
        for (const version of [0, 1]) {
          entries.push(sign({
            start,
            owner: version === 0 ? BYZANTINE : (y % 2 ? victim.name : BYZANTINE),
            version,
            takeover: false,
            author: BYZANTINE,
          }));
        }
        break;
      }
      case 2: { // claims an honest author (the owner), signed with its own key: does not verify
        const e = pick(x);
        entries.push(sign({
          start: e.start,
          owner: y % 2 ? victim.name : BYZANTINE,
          version: e.version + 1,
          takeover: false,
          author: e.owner,
        }));
        break;
      }
      case 3: { // a real state of another peer, altered in transit
        const other = this.c.peers[y % this.c.peers.length];
        const s = other.alloc.ring.state();
        if (!s || s.seed !== ring.seed) return;
        const all = [...s.entries, ...(s.links ?? [])].filter((e) => e.sig !== "");
        if (all.length === 0) return;
        const e = all[x % all.length];
        const owner = honest[(x + y) % honest.length];
        entries.push(
          y % 2
            ? { ...e, owner: owner === e.owner ? victim.name : owner }
            : { ...e, version: e.version + 1 },
        );
        break;
      }
      case 4: // a replay of a real old message
        data = this.#replays[y % 16] ?? null;
        break;
      case 7: { // free-space hints for honest peers: nothing left, stamped far ahead
        const free: Record<string, [number, number]> = {};
        for (const n of honest) free[n] = [this.c.now + 1e12, 0];
        data = encodeGossip({ v: IPAM_WIRE_VERSION, range: victim.alloc.rangeText, free });
        break;
      }
      case 5: // a forged donation ("give") of others' space to the victim
      case 6: {
        const e = pick(x);
        entries.push(sign({
          start: e.start,
          owner: victim.name,
          version: e.version + 1,
          takeover: false,
          author: BYZANTINE,
        }));
        const g = this.#gossip(victim, { seed: ring.seed!, entries });
        this.#count(victim, entries);
        this.stats.sent++;
        this.c.queue.push({
          from: BYZANTINE,
          to: victim.name,
          kind: "unicast",
          data: encodeUnicast({ t: "give", state: g }),
        });
        return;
      }
    }
    if (!data) {
      if (entries.length === 0) return;
      this.#count(victim, entries);
      data = encodeGossip(this.#gossip(victim, { seed: ring.seed!, entries }));
    }
    this.stats.sent++;
    this.c.queue.push({ from: BYZANTINE, to: victim.name, kind: "gossip", data });
  }

  /** Records for honest participants, accepting a member set with this peer, signed by it. */
  #forgePaxos(victim: SimPeer, round: number): void {
    const paxos: Record<string, Acceptor> = {};
    const names = this.c.peers.map((p) => p.name);
    for (const name of names) {
      const ballot: [number, string] = [1000 + round, BYZANTINE];
      const rec: Acceptor = {
        promised: ballot,
        accepted: { ballot, value: [...names, BYZANTINE].sort() },
      };
      const bytes = acceptorBytes(victim.alloc.rangeText, name, rec);
      paxos[name] = {
        ...rec,
        sig: sigToText(this.c.keyring.key(BYZANTINE).sign(PAXOS_DOMAIN, bytes)),
      };
    }
    this.stats.sent++;
    this.stats.wouldHaveWon++; // a higher ballot accepted by everyone: a naive merge decides it
    const data = encodeGossip({
      v: IPAM_WIRE_VERSION,
      range: victim.alloc.rangeText,
      paxos,
      free: {},
    });
    this.c.queue.push({ from: BYZANTINE, to: victim.name, kind: "gossip", data });
  }

  #gossip(victim: SimPeer, ring: RingState): Gossip {
    return { v: IPAM_WIRE_VERSION, range: victim.alloc.rangeText, ring, free: {} };
  }

  /** The negative control: would a join without signatures and rules have taken these? */
  #count(victim: SimPeer, entries: Entry[]): void {
    const cur = new Map(victim.alloc.ring.entries().map((e) => [e.start, e]));
    if (entries.some((e) => !cur.has(e.start) || entryOrder(e, cur.get(e.start)!) > 0)) {
      this.stats.wouldHaveWon++;
    }
  }
}
