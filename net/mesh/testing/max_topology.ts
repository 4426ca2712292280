/**
 * TEST DOUBLE: the worst topology message the signed format admits (issue 12, "one 25 MB
 * topology message stalled every node's event loop"): `entries` made-up peers, each signing its
 * own entry with its own key, with maximal nicknames and as many connections each as the byte cap
 * leaves, joined both ways to their neighbours on a ring (so every link counts for routing) and
 * to the sender's own entry, which lists its real connection to the victim. The victim verifies
 * them all, routes to every one of them and shows them all in its status.
 *
 * Used by the in-process max-topology test (tests/mesh) and the event-loop bench.
 */
import { createHash } from "node:crypto";
import type { PeerName } from "../gossip_channel.ts";
import { SigningKey } from "../signing.ts";
import { encodeUpdate, LIMITS, type PeerEntry, signEntry } from "../topology.ts";

export interface MaxTopologySpec {
  /** The sender: its name, uid and key (its entry must verify against the handshake's key). */
  sender: { name: PeerName; uid: string; key: SigningKey };
  /** The victim's name and the address it is reached at (the sender's one real connection). */
  victim: { name: PeerName; address: string };
  /** Entries in all (the sender's included); default LIMITS.entriesPerMessage. */
  entries?: number;
  /** Bytes at most; default LIMITS.bytesPerMessage. */
  maxBytes?: number;
  /** Where discovery would dial the made-up peers (keep it inside the test's own namespace). */
  address?: string;
  /** The made-up peers' version (a second message must be news: a higher one). */
  version?: number;
}

export interface MaxTopology {
  data: Uint8Array;
  entries: number;
  /** Connection records per made-up peer. */
  links: number;
}

/** A made-up peer's name: 02:ff:…:99, never a real test peer's. */
export function fakePeerName(i: number): PeerName {
  return `02:ff:${
    [(i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff, 0x99]
      .map((b) => b.toString(16).padStart(2, "0")).join(":")
  }`;
}

const keyCache = new Map<number, SigningKey>();

/** Deterministic keys (seeded by index), so repeated builds in one process sign only once. */
function fakeKey(i: number): SigningKey {
  let k = keyCache.get(i);
  if (!k) {
    const seed = createHash("sha256").update(`weavets max topology ${i}`).digest();
    k = SigningKey.fromSeed(new Uint8Array(seed));
    keyCache.set(i, k);
  }
  return k;
}

export function maxTopology(spec: MaxTopologySpec): MaxTopology {
  const n = (spec.entries ?? LIMITS.entriesPerMessage) - 1;
  const nick = "x".repeat(LIMITS.nickname);
  const address = spec.address ?? "198.18.0.99:6783";
  const fake = (i: number) => fakePeerName(10_000 + ((i + n) % n));
  const fakeUid = (i: number) => (0xa0000000 + i).toString(16).padStart(16, "0");
  const link = (name: PeerName, outbound: boolean) => ({
    name,
    address,
    outbound,
    established: true,
  });
  const build = (h: number) => {
    const entries: PeerEntry[] = [];
    const k = spec.sender.key;
    const own = [
      { name: spec.victim.name, address: spec.victim.address, outbound: true, established: true },
      ...Array.from(
        { length: Math.min(n, LIMITS.connectionsPerPeer - 1) },
        (_, i) => link(fake(i), true),
      ),
    ];
    // The sender's entry first: the made-up peers it links are reachable as they arrive, so
    // none is evicted as unreachable and every one costs routes and status.
    entries.push(signEntry(
      {
        name: spec.sender.name,
        nickname: nick,
        uid: spec.sender.uid,
        version: 2,
        connections: own,
      },
      k.publicKey,
      (d, p) => k.sign(d, p),
    ));
    for (let i = 0; i < n; i++) {
      const conns = [link(spec.sender.name, false)];
      for (let j = 1; j <= h; j++) conns.push(link(fake(i + j), true), link(fake(i - j), false));
      const key = fakeKey(i);
      entries.push(signEntry(
        {
          name: fake(i),
          nickname: nick,
          uid: fakeUid(10_000 + i),
          version: spec.version ?? 1,
          connections: conns,
        },
        key.publicKey,
        (d, p) => key.sign(d, p),
      ));
    }
    return encodeUpdate(entries);
  };
  const cap = Math.min(LIMITS.bytesPerMessage, spec.maxBytes ?? Infinity);
  const base = build(0).length;
  const perLink = (build(1).length - base) / (2 * n);
  let h = Math.max(0, Math.floor((cap - base) / (2 * n * perLink)));
  let data = build(h);
  while (data.length > cap && h > 0) data = build(--h);
  return { data, entries: n + 1, links: 2 * h + 1 };
}
