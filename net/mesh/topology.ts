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
import { hex8, peerNameBytes, peerNameFromBytes, UID_RE } from "./peer_name.ts";
import { SIGNATURE_BYTES, SIGNING_PUBLIC_KEY_BYTES } from "./signing.ts";

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

export class TopologyDecodeError extends Error {
  override name = "TopologyDecodeError";
}

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });
/** Addresses are checked to be printable ASCII when decoded: any decoder reads them right. */
const ascii = new TextDecoder("latin1");

/** The encoded entry (body ‖ signature) of every entry this process decoded or signed. */
const wire = new WeakMap<PeerEntry, Uint8Array>();

const FIXED = 6 + 8 + 8 + SIGNING_PUBLIC_KEY_BYTES;

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

/**
 * Parses a topology update (signatures are not checked here: see authorship.ts); throws
 * TopologyDecodeError naming what is wrong. Bounded: LIMITS.bytesPerMessage and
 * entriesPerMessage are checked before anything is parsed.
 */
export function decodeUpdate(data: Uint8Array): PeerEntry[] {
  const d = new UpdateDecoder(data);
  d.step(Infinity);
  return d.entries;
}

/**
 * A topology update parsed a few entries at a time (the largest takes 40-250 ms to parse: a
 * caller that must not hold the event loop that long parses it in slices). The header is checked
 * at construction; each step throws TopologyDecodeError like decodeUpdate, whose result `entries`
 * is once `done`.
 */
export class UpdateDecoder {
  readonly entries: PeerEntry[] = [];
  readonly #data: Uint8Array;
  readonly #view: DataView;
  readonly #count: number;
  #offset = 3;

  constructor(data: Uint8Array) {
    if (data.length > LIMITS.bytesPerMessage) {
      throw new TopologyDecodeError(
        `topology update of ${data.length} bytes exceeds ${LIMITS.bytesPerMessage}`,
      );
    }
    if (data.length < 3) throw new TopologyDecodeError("truncated topology update");
    if (data[0] !== UPDATE_FORMAT) {
      throw new TopologyDecodeError(`unknown topology update format ${data[0]}`);
    }
    this.#data = data;
    this.#view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.#count = this.#view.getUint16(1);
    if (this.#count > LIMITS.entriesPerMessage) {
      throw new TopologyDecodeError(`${this.#count} entries exceed ${LIMITS.entriesPerMessage}`);
    }
    if (this.#count === 0) this.#end();
  }

  get done(): boolean {
    return this.entries.length === this.#count;
  }

  /** Parses up to `max` more entries; returns whether the update is now parsed whole. */
  step(max: number): boolean {
    for (let n = 0; n < max && !this.done; n++) {
      const [e, next] = decodeEntry(this.#data, this.#view, this.#offset, this.entries.length);
      this.entries.push(e);
      this.#offset = next;
      if (this.done) this.#end();
    }
    return this.done;
  }

  #end(): void {
    if (this.#offset !== this.#data.length) {
      throw new TopologyDecodeError("trailing bytes after the entries");
    }
  }
}

/**
 * One entry at `start`. Everything is validated here, but connection records are only walked
 * (lengths, flags, order, ASCII addresses): they become objects when first read, so a message
 * whose entries are not news (re-delivery, anti-entropy) costs no allocation per connection.
 */
function decodeEntry(
  data: Uint8Array,
  view: DataView,
  start: number,
  index: number,
): [PeerEntry, number] {
  const fail = (what: string): never => {
    throw new TopologyDecodeError(`topology entry ${index}: ${what}`);
  };
  const need = (o: number, n: number) => {
    if (o + n > data.length) fail("truncated");
  };
  need(start, FIXED + 1);
  const name = peerNameFromBytes(data.subarray(start, start + 6));
  const uid = hex8(data, start + 6);
  const version = view.getUint32(start + 14) * 2 ** 32 + view.getUint32(start + 18);
  if (version > MAX_VERSION) fail(`version ${version} above ${MAX_VERSION}`);
  let o = start + FIXED;
  const nickLen = data[o++];
  if (nickLen > LIMITS.nickname) fail("nickname too long");
  need(o, nickLen + 2);
  const nickname = text(data.subarray(o, o + nickLen), fail);
  o += nickLen;
  const count = view.getUint16(o);
  o += 2;
  if (count > LIMITS.connectionsPerPeer) fail(`${count} connections`);
  const connStart = o - start;
  for (let i = 0, prev = -1; i < count; i++) {
    need(o, 8);
    if (prev >= 0) {
      let k = 0;
      while (k < 6 && data[prev + k] === data[o + k]) k++;
      if (k === 6 || data[prev + k] > data[o + k]) {
        fail("connections not sorted by name, or repeated");
      }
    }
    prev = o;
    const flags = data[o + 6], len = data[o + 7];
    if (flags & ~3) fail(`unknown connection flags ${flags}`);
    if (len > LIMITS.address) fail("address too long");
    need(o + 8, len);
    for (let j = o + 8; j < o + 8 + len; j++) {
      if (data[j] < 0x21 || data[j] > 0x7e) fail("address is not printable ASCII");
    }
    o += 8 + len;
  }
  need(o, SIGNATURE_BYTES);
  const end = o + SIGNATURE_BYTES;
  const bytes = data.slice(start, end);
  const entry = new WireEntry(
    name,
    nickname,
    uid,
    version,
    bytes.slice(22, FIXED),
    bytes.slice(o - start),
    bytes,
    connStart,
    count,
  );
  wire.set(entry, bytes);
  return [entry, end];
}

/** A decoded entry whose connection records are read from its bytes on first use. */
class WireEntry implements PeerEntry {
  #connections: ConnectionRecord[] | undefined;
  readonly #bytes: Uint8Array;
  readonly #connStart: number;
  readonly #count: number;

  constructor(
    readonly name: PeerName,
    readonly nickname: string,
    readonly uid: string,
    readonly version: number,
    readonly key: Uint8Array,
    readonly signature: Uint8Array,
    bytes: Uint8Array,
    connStart: number,
    count: number,
  ) {
    this.#bytes = bytes;
    this.#connStart = connStart;
    this.#count = count;
  }

  get connections(): ConnectionRecord[] {
    return this.#connections ??= readConnections(this.#bytes, this.#connStart, this.#count);
  }
}

/** The connection records of a validated entry (decodeEntry checked every byte read here). */
function readConnections(b: Uint8Array, start: number, count: number): ConnectionRecord[] {
  const out: ConnectionRecord[] = [];
  for (let i = 0, o = start; i < count; i++) {
    const flags = b[o + 6], len = b[o + 7];
    out.push({
      name: peerNameFromBytes(b.subarray(o, o + 6)),
      address: ascii.decode(b.subarray(o + 8, o + 8 + len)),
      outbound: (flags & 1) === 1,
      established: (flags & 2) === 2,
    });
    o += 8 + len;
  }
  return out;
}

function text(b: Uint8Array, fail: (what: string) => never): string {
  try {
    return dec.decode(b);
  } catch {
    return fail("text is not UTF-8");
  }
}
