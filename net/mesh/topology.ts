/**
 * The topology's records: every peer's entry (name, nickname, uid, version, signing key,
 * connections), signed by that peer, and their wire format. Pure: no I/O.
 *
 * The merge is a join on a total order of entries per name — (version, uid, encoded bytes) — so it
 * is idempotent, commutative and associative, and any mix of broadcast, anti-entropy and
 * re-delivery converges. Only a peer itself writes its entry (its signature covers every byte but
 * the signature), bumping the version on every change; a restarted peer (new uid) that sees an
 * older life of itself with a higher version jumps beyond it, so its new entry replaces the old one
 * everywhere. docs/PROTOCOL.md §5 has the layout; topology_test.ts has golden vectors.
 */
import type { PeerName } from "./gossip_channel.ts";
import { peerNameBytes, UID_RE } from "./peer_name.ts";
import { SIGNATURE_BYTES, SIGNING_PUBLIC_KEY_BYTES } from "./signing.ts";
import { WeavetsError } from "../errors.ts";

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

/** What a peer says about itself; signed, it becomes a PeerEntry. */
export interface EntryBody {
  name: PeerName;
  nickname: string;
  uid: string;
  version: number;
  /** Sorted by name; at most one per remote peer. */
  connections: ConnectionRecord[];
}

export interface PeerEntry extends EntryBody {
  /** The author's Ed25519 public key (32 bytes): what receivers bind to its name. */
  key: Uint8Array;
  /** The author's signature over the encoded body (domain ENTRY_DOMAIN). */
  signature: Uint8Array;
}

/**
 * Bounds on what a peer may send. A full state of the store's bounds (STORE_LIMITS) fits one
 * message (2,000 peers with 14 connections each is 0.9 MB); they keep a hostile or broken peer from
 * exhausting memory or stalling the event loop. Lengths are in bytes.
 */
export const LIMITS = {
  nickname: 64,
  /** Printable ASCII: "[ipv6]:port" fits. */
  address: 48,
  /** A peer reports at most this many of its connections (the --conn-limit default is 200). */
  connectionsPerPeer: 1024,
  /** Per topology message: entries and bytes. A full state always fits (see the store's caps). */
  entriesPerMessage: 4096,
  bytesPerMessage: 4 * 1024 * 1024,
};

/**
 * Versions stay far below 2^53, so every peer can always count on: an entry at MAX_VERSION is
 * refused, and a received version may move at most MAX_VERSION_STEP past the one held.
 */
export const MAX_VERSION = 2 ** 40;
export const MAX_VERSION_STEP = 2 ** 24;

/** The signature domain of topology entries (net/mesh/signing.ts). */
export const ENTRY_DOMAIN = "topology/entry";
/** The first byte of every topology update; a new layout gets a new value. */
export const UPDATE_FORMAT = 1;

export class TopologyDecodeError extends WeavetsError {
  override name = "TopologyDecodeError";
  constructor(message: string, opts?: { cause?: unknown }) {
    super("invalid-input", message, opts);
  }
}

const enc = new TextEncoder();

/** The encoded entry (body ‖ signature) of every entry this process decoded or signed. */
const wire = new WeakMap<PeerEntry, Uint8Array>();

/** Records the bytes `e` was decoded from (topology_decode.ts): they are its encoding. */
export function rememberWire(e: PeerEntry, bytes: Uint8Array): void {
  wire.set(e, bytes);
}

/** An entry's fixed part: name, uid, version, key. */
export const ENTRY_FIXED_BYTES = 6 + 8 + 8 + SIGNING_PUBLIC_KEY_BYTES;
const FIXED = ENTRY_FIXED_BYTES;

/** The bytes an entry's signature covers (docs/PROTOCOL.md §5). */
export function encodeBody(b: EntryBody, key: Uint8Array): Uint8Array {
  if (!UID_RE.test(b.uid)) throw new TopologyDecodeError(`bad uid "${b.uid}"`);
  if (!Number.isInteger(b.version) || b.version < 0 || b.version > MAX_VERSION) {
    throw new TopologyDecodeError(`version ${b.version} out of range 0..${MAX_VERSION}`);
  }
  if (b.connections.length > LIMITS.connectionsPerPeer) {
    throw new TopologyDecodeError(`more than ${LIMITS.connectionsPerPeer} connections`);
  }
  const nick = limited(b.nickname, LIMITS.nickname, "nickname");
  const addrs = b.connections.map((c) => {
    if (!/^[\x21-\x7e]*$/.test(c.address)) {
      throw new TopologyDecodeError(`address "${c.address}" is not printable ASCII`);
    }
    return limited(c.address, LIMITS.address, "address");
  });
  const size = FIXED + 1 + nick.length + 2 + addrs.reduce((n, a) => n + 8 + a.length, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out.set(peerNameBytes(b.name), 0);
  view.setBigUint64(6, BigInt("0x" + b.uid));
  view.setBigUint64(14, BigInt(b.version));
  out.set(key, 22);
  let o = FIXED;
  out[o++] = nick.length;
  out.set(nick, o);
  o += nick.length;
  view.setUint16(o, b.connections.length);
  o += 2;
  b.connections.forEach((c, i) => {
    out.set(peerNameBytes(c.name), o);
    out[o + 6] = (c.outbound ? 1 : 0) | (c.established ? 2 : 0);
    out[o + 7] = addrs[i].length;
    out.set(addrs[i], o + 8);
    o += 8 + addrs[i].length;
  });
  return out;
}

function limited(s: string, max: number, what: string): Uint8Array {
  const b = enc.encode(s);
  if (b.length > max) throw new TopologyDecodeError(`${what} longer than ${max} bytes`);
  return b;
}

/**
 * Signs `body` as its author: connections sorted by name first. `sign` is the author's key
 * (SigningKey.sign, or MeshView.sign).
 */
export function signEntry(
  body: EntryBody,
  key: Uint8Array,
  sign: (domain: string, payload: Uint8Array) => Uint8Array,
): PeerEntry {
  const connections = [...body.connections].sort((x, y) =>
    x.name < y.name ? -1 : x.name > y.name ? 1 : 0
  );
  const b = { ...body, connections };
  const bytes = encodeBody(b, key);
  const signature = sign(ENTRY_DOMAIN, bytes);
  const entry: PeerEntry = { ...b, key: key.slice(), signature };
  const all = new Uint8Array(bytes.length + SIGNATURE_BYTES);
  all.set(bytes);
  all.set(signature, bytes.length);
  wire.set(entry, all);
  return entry;
}

/** The encoded entry: body ‖ signature. */
export function entryBytes(e: PeerEntry): Uint8Array {
  let b = wire.get(e);
  if (!b) {
    const body = encodeBody(e, e.key);
    b = new Uint8Array(body.length + SIGNATURE_BYTES);
    b.set(body);
    b.set(e.signature, body.length);
    wire.set(e, b);
  }
  return b;
}

/** How many connections an entry lists, without reading them. */
export function connectionCount(e: PeerEntry): number {
  const b = wire.get(e);
  if (!b) return e.connections.length;
  const o = FIXED + 1 + b[FIXED];
  return (b[o] << 8) | b[o + 1];
}

/** The signed part of the encoded entry. */
export function signedPart(e: PeerEntry): Uint8Array {
  const b = entryBytes(e);
  return b.subarray(0, b.length - SIGNATURE_BYTES);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/** Total order on entries for the same name: positive when `a` supersedes `b`. */
export function compareEntries(a: PeerEntry, b: PeerEntry): number {
  if (a.version !== b.version) return a.version - b.version;
  if (a.uid !== b.uid) return a.uid < b.uid ? -1 : 1;
  if (a === b) return 0;
  return compareBytes(entryBytes(a), entryBytes(b));
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

/** format (1) ‖ count (2) ‖ entries. */
export function encodeUpdate(entries: Iterable<PeerEntry>): Uint8Array {
  const list = [...entries].map(entryBytes);
  const out = new Uint8Array(3 + list.reduce((n, b) => n + b.length, 0));
  out[0] = UPDATE_FORMAT;
  new DataView(out.buffer).setUint16(1, list.length);
  let o = 3;
  for (const b of list) {
    out.set(b, o);
    o += b.length;
  }
  return out;
}
