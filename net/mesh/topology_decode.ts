/**
 * Parsing topology updates (the layout is topology.ts's, docs/PROTOCOL.md §5): whole, or a few
 * entries at a time for a caller that must not hold the event loop (topology_gossip.ts). Pure.
 */
import type { PeerName } from "./gossip_channel.ts";
import { hex8, peerNameFromBytes } from "./peer_name.ts";
import { SIGNATURE_BYTES } from "./signing.ts";
import {
  type ConnectionRecord,
  ENTRY_FIXED_BYTES as FIXED,
  LIMITS,
  MAX_VERSION,
  type PeerEntry,
  rememberWire,
  TopologyDecodeError,
  UPDATE_FORMAT,
} from "./topology.ts";

const dec = new TextDecoder("utf-8", { fatal: true });
/** Addresses are checked to be printable ASCII when decoded: any decoder reads them right. */
const ascii = new TextDecoder("latin1");

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
  rememberWire(entry, bytes);
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
