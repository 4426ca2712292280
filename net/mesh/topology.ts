/**
 * The topology: every peer's entry (name, nickname, uid, version, connections). Pure: no I/O.
 *
 * The merge is a join on a total order of entries per name — (version, uid, content) — so it is
 * idempotent, commutative and associative, and any mix of broadcast, anti-entropy and re-delivery
 * converges. Only a peer itself writes its entry, bumping the version on every change; a restarted
 * peer (new uid) that sees an older life of itself with a higher version jumps beyond it, so its
 * new entry replaces the old one everywhere.
 */
import { z } from "zod";
import type { PeerName } from "./gossip_channel.ts";
import { UID_RE } from "./peer_name.ts";

export interface ConnectionRecord {
  /** The peer at the other end. */
  name: PeerName;
  /** Where that peer can be dialled: its IP as seen from here and the port it listens on. */
  address: string;
  /** True when this peer dialled it. */
  outbound: boolean;
  /** True once the handshake completed (a connection being set up is reported as pending). */
  established: boolean;
}

export interface PeerEntry {
  name: PeerName;
  nickname: string;
  uid: string;
  version: number;
  /** Sorted by name; at most one per remote peer. */
  connections: ConnectionRecord[];
}

/** Bounds on what a peer may send: they keep a hostile or broken peer from exhausting memory. */
export const LIMITS = { nickname: 64, address: 64, connectionsPerPeer: 4096, peers: 100_000 };

const peerNameSchema = z.string().regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);

export const connectionSchema = z.object({
  name: peerNameSchema,
  address: z.string().max(LIMITS.address),
  outbound: z.boolean(),
  established: z.boolean(),
}).strict();

export const entrySchema = z.object({
  name: peerNameSchema,
  nickname: z.string().max(LIMITS.nickname),
  uid: z.string().regex(UID_RE),
  version: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  connections: z.array(connectionSchema).max(LIMITS.connectionsPerPeer),
}).strict();

const updateSchema = z.object({ peers: z.array(entrySchema).max(LIMITS.peers) }).strict();

export class TopologyDecodeError extends Error {
  override name = "TopologyDecodeError";
}

function canonical(e: PeerEntry): string {
  return JSON.stringify([
    e.nickname,
    e.connections.map((c) => [
      c.name,
      c.address,
      c.outbound,
      c.established,
    ]),
  ]);
}

/** Total order on entries for the same name: positive when `a` supersedes `b`. */
export function compareEntries(a: PeerEntry, b: PeerEntry): number {
  if (a.version !== b.version) return a.version - b.version;
  if (a.uid !== b.uid) return a.uid < b.uid ? -1 : 1;
  if (a === b) return 0;
  const ca = canonical(a), cb = canonical(b);
  return ca === cb ? 0 : ca < cb ? -1 : 1;
}

/** The join of two entries for the same peer. */
export function mergeEntry(a: PeerEntry, b: PeerEntry): PeerEntry {
  return compareEntries(a, b) >= 0 ? a : b;
}

export type Topology = ReadonlyMap<PeerName, PeerEntry>;

/** The join of two topologies (a new map; inputs untouched). */
export function mergeTopology(a: Topology, b: Topology): Map<PeerName, PeerEntry> {
  const out = new Map(a);
  for (const [name, e] of b) {
    const cur = out.get(name);
    out.set(name, cur ? mergeEntry(cur, e) : e);
  }
  return out;
}

/** Entries sorted by name with connections sorted: two equal topologies encode identically. */
export function normaliseEntry(e: PeerEntry): PeerEntry {
  const connections = [...e.connections].sort((
    x,
    y,
  ) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
  return { ...e, connections };
}

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

export function encodeUpdate(entries: Iterable<PeerEntry>): Uint8Array {
  return enc.encode(JSON.stringify({ peers: [...entries] }));
}

/** Parses a topology update; throws TopologyDecodeError naming what is wrong. */
export function decodeUpdate(data: Uint8Array): PeerEntry[] {
  let raw: unknown;
  try {
    raw = JSON.parse(dec.decode(data));
  } catch (e) {
    throw new TopologyDecodeError(`topology update is not JSON: ${(e as Error).message}`);
  }
  const r = updateSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new TopologyDecodeError(`invalid topology update at ${i.path.join(".")}: ${i.message}`);
  }
  return r.data.peers.map(normaliseEntry);
}
