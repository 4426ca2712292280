/**
 * The userspace path's wire format. Pure.
 *
 * A *message* carries one or more frame entries from one sender to one receiver:
 *   entry = u32 length ‖ virtio-net header (10 bytes) ‖ Ethernet frame
 * The virtio-net header travels with the frame so a TSO/GSO superframe read from the sending TAP
 * is written whole into the receiving TAP and the receiving kernel segments it (or hands it on
 * unsegmented to a pod's veth) — the userspace path never touches TCP segments one by one.
 *
 * A message (sealed with AEAD when encrypted) is cut into *fragments* so that no UDP datagram on
 * the underlay exceeds the path MTU; every fragment is one datagram:
 *   0 magic 0x58 | 1 flags (bit 0: encrypted, bit 1: broadcast) | 2..7 sender peer name |
 *   8..15 key id | 16..23 message sequence number | 24..29 origin peer name |
 *   30..35 destination peer name (zeros for a broadcast) | 36 hops left | 37 zero |
 *   38 fragment index | 39 fragment count | 40..41 payload length
 * The sender is this hop's sender; the origin is the peer whose TAP the frames came from, and the
 * destination the peer whose TAP they go to (a broadcast goes along the origin's broadcast tree),
 * so a message can be relayed hop by hop (forward.ts). The key id names the hop's session
 * key that sealed the message (keys.ts); unencrypted, those bytes are the sender's epoch
 * (random per start). Bytes 0..37 are the AEAD's associated data, and the sequence number is the
 * nonce. All fragments but the last of a message have the
 * same length, which is what UDP GSO (UDP_SEGMENT) needs to send them with one system call, and
 * each fragment states its own length, so a GRO-coalesced receive buffer splits without ancillary
 * data.
 */

import { macKeyAt } from "./frame.ts";

export const SLEEVE_MAGIC = 0x58;
export const FLAG_ENCRYPTED = 1;
export const FLAG_BROADCAST = 2;
export const SLEEVE_FRAGMENT_HEADER = 42;
export const VNET_HDR_LEN = 10;
export const SLEEVE_ENTRY_HEADER = 4 + VNET_HDR_LEN;
export const AAD_LEN = 38;
/** Hops a message may take: the origin sets it, every relay takes one off. */
export const DEFAULT_HOPS = 16;
/** The largest entry: a 64 KiB GSO superframe plus Ethernet header plus virtio-net header. */
export const MAX_ENTRY = VNET_HDR_LEN + 14 + 65535;
export const MAX_FRAGMENTS = 255;
/** Bytes one UDP GSO send may carry (65535 − IPv4 − UDP), and the kernel's segment limit. */
export const MAX_GSO_BYTES = 65507;
export const MAX_GSO_SEGMENTS = 64;
const POOL_BUF = 128 * 1024;

export class SleeveFormatError extends Error {
  override name = "SleeveFormatError";
}

export interface FragmentHeader {
  encrypted: boolean;
  broadcast: boolean;
  /** Offset of the 6-byte sender name in the buffer the header was read from. */
  senderOff: number;
  /** Offsets of the 6-byte origin and destination names (the latter zeros for a broadcast). */
  originOff: number;
  destOff: number;
  /** Hops left (relays take one off). */
  hops: number;
  /** The key id (or epoch) as two 32-bit halves. */
  idHi: number;
  idLo: number;
  seq: number;
  index: number;
  count: number;
  payloadOff: number;
  payloadLen: number;
  /** Offset of the header (its first AAD_LEN bytes are the associated data). */
  headerOff: number;
}

/** What the sender puts in every fragment header of one message. */
export interface MessageHeader {
  encrypted: boolean;
  sender: Uint8Array; // 6 bytes
  /** 8 bytes: the key id when encrypted, else the sender's epoch. */
  keyId: Uint8Array;
  seq: number;
  /** 6 bytes: the peer whose TAP the frames came from. */
  origin: Uint8Array;
  /** 6 bytes: the peer whose TAP they go to; null for a broadcast (along origin's tree). */
  dest: Uint8Array | null;
  hops: number;
}

export function writeAad(out: Uint8Array, off: number, h: MessageHeader): void {
  out[off] = SLEEVE_MAGIC;
  out[off + 1] = (h.encrypted ? FLAG_ENCRYPTED : 0) | (h.dest === null ? FLAG_BROADCAST : 0);
  out.set(h.sender, off + 2);
  out.set(h.keyId, off + 8);
  const dv = new DataView(out.buffer, out.byteOffset);
  dv.setUint32(off + 16, Math.floor(h.seq / 0x100000000));
  dv.setUint32(off + 20, h.seq >>> 0);
  out.set(h.origin, off + 24);
  if (h.dest === null) out.fill(0, off + 30, off + 36);
  else out.set(h.dest, off + 30);
  if (!Number.isInteger(h.hops) || h.hops < 0 || h.hops > 255) {
    throw new SleeveFormatError(`hops ${h.hops} is outside 0..255`);
  }
  out[off + 36] = h.hops;
  out[off + 37] = 0;
}

/** Payload bytes per fragment for a given maximum UDP payload (path MTU − 28). */
export function fragmentPayload(segSize: number): number {
  const p = segSize - SLEEVE_FRAGMENT_HEADER;
  if (p < 64) throw new SleeveFormatError(`UDP segment size ${segSize} is too small`);
  return p;
}

/**
 * Writes the fragments of one message (its body given as consecutive `chunks`, e.g. frame entries
 * or cipher output) into `out` from `off`; pushes [start, length] of each send onto `sends`: with
 * `gso`, one UDP GSO send per run of up to 64 full-size (exactly `segSize`) fragments; without,
 * one send per fragment. Returns the new offset, or -1 when `out` has no room (nothing is pushed).
 */
export function writeFragments(
  out: Uint8Array,
  off: number,
  h: MessageHeader,
  chunks: Uint8Array[],
  segSize: number,
  sends: number[],
  gso = true,
): number {
  const per = fragmentPayload(segSize);
  let total = 0;
  for (const c of chunks) total += c.length;
  const count = Math.max(1, Math.ceil(total / per));
  if (count > MAX_FRAGMENTS) {
    throw new SleeveFormatError(`message of ${total} bytes needs ${count} fragments (max 255)`);
  }
  if (off + total + count * SLEEVE_FRAGMENT_HEADER > out.length) return -1;
  // Without UDP GSO every datagram is its own send.
  const perSend = gso ? Math.min(MAX_GSO_SEGMENTS, Math.floor(MAX_GSO_BYTES / segSize)) : 1;
  let ci = 0;
  let co = 0;
  let pos = off;
  let sendStart = off;
  let inSend = 0;
  for (let i = 0; i < count; i++) {
    const len = i === count - 1 ? total - per * (count - 1) : per;
    writeAad(out, pos, h);
    out[pos + 38] = i;
    out[pos + 39] = count;
    out[pos + 40] = len >> 8;
    out[pos + 41] = len & 0xff;
    pos += SLEEVE_FRAGMENT_HEADER;
    let need = len;
    while (need > 0) {
      const c = chunks[ci];
      const n = Math.min(need, c.length - co);
      out.set(n === c.length ? c : c.subarray(co, co + n), pos);
      pos += n;
      need -= n;
      co += n;
      if (co === c.length) {
        ci++;
        co = 0;
      }
    }
    if (++inSend === perSend || i === count - 1) {
      sends.push(sendStart, pos - sendStart);
      sendStart = pos;
      inSend = 0;
    }
  }
  return pos;
}

/**
 * Calls `fn` for each fragment in buf[0, len) (one datagram, or several coalesced by UDP GRO).
 * Returns false, having stopped, at the first malformed fragment.
 */
export function forEachFragment(
  buf: Uint8Array,
  len: number,
  fn: (h: FragmentHeader) => void,
): boolean {
  let pos = 0;
  const dv = new DataView(buf.buffer, buf.byteOffset);
  const h: FragmentHeader = {
    encrypted: false,
    broadcast: false,
    senderOff: 0,
    originOff: 0,
    destOff: 0,
    hops: 0,
    idHi: 0,
    idLo: 0,
    seq: 0,
    index: 0,
    count: 0,
    payloadOff: 0,
    payloadLen: 0,
    headerOff: 0,
  };
  while (pos < len) {
    if (len - pos < SLEEVE_FRAGMENT_HEADER || buf[pos] !== SLEEVE_MAGIC) return false;
    const plen = (buf[pos + 40] << 8) | buf[pos + 41];
    const count = buf[pos + 39];
    const index = buf[pos + 38];
    const flags = buf[pos + 1];
    if (
      pos + SLEEVE_FRAGMENT_HEADER + plen > len || count === 0 || index >= count ||
      (flags & ~(FLAG_ENCRYPTED | FLAG_BROADCAST)) !== 0 || buf[pos + 37] !== 0
    ) return false;
    h.encrypted = (flags & FLAG_ENCRYPTED) !== 0;
    h.broadcast = (flags & FLAG_BROADCAST) !== 0;
    h.senderOff = pos + 2;
    h.originOff = pos + 24;
    h.destOff = pos + 30;
    h.hops = buf[pos + 36];
    h.idHi = dv.getUint32(pos + 8);
    h.idLo = dv.getUint32(pos + 12);
    h.seq = dv.getUint32(pos + 16) * 0x100000000 + dv.getUint32(pos + 20);
    h.index = index;
    h.count = count;
    h.payloadOff = pos + SLEEVE_FRAGMENT_HEADER;
    h.payloadLen = plen;
    h.headerOff = pos;
    fn(h);
    pos += SLEEVE_FRAGMENT_HEADER + plen;
  }
  return true;
}

/**
 * Calls `fn(off, len)` for each entry's virtio-net header + frame in body[0, bodyLen).
 * Returns false at the first malformed entry.
 */
export function forEachEntry(
  body: Uint8Array,
  bodyLen: number,
  fn: (off: number, len: number) => void,
): boolean {
  const dv = new DataView(body.buffer, body.byteOffset);
  let pos = 0;
  while (pos < bodyLen) {
    if (bodyLen - pos < 4) return false;
    const n = dv.getUint32(pos);
    if (n < VNET_HDR_LEN + 14 || n > MAX_ENTRY || pos + 4 + n > bodyLen) return false;
    fn(pos + 4, n);
    pos += 4 + n;
  }
  return true;
}

interface Partial {
  buf: Uint8Array | null;
  stride: number;
  count: number;
  got: number;
  have: Uint8Array;
  total: number;
  started: number;
  early: { index: number; data: Uint8Array }[];
}

/**
 * Puts fragmented messages back together. Single-fragment messages pass straight through
 * (no copy). Keeps at most `maxPending` incomplete messages, dropping the oldest, and drops any
 * older than `timeoutMs` on `expire`.
 */
export class Reassembler {
  readonly #pending = new Map<string, Partial>();
  /** Reassembly buffers are reused: fresh 64 KiB allocations per superframe cost page faults. */
  readonly #pool: Uint8Array[] = [];
  #lent: Uint8Array | null = null;
  dropped = 0;

  constructor(readonly maxPending = 64, readonly timeoutMs = 2000) {}

  #take(size: number): Uint8Array {
    if (size > POOL_BUF) return new Uint8Array(size);
    return this.#pool.pop() ?? new Uint8Array(POOL_BUF);
  }

  #give(b: Uint8Array | null): void {
    if (b && b.length === POOL_BUF && this.#pool.length < this.maxPending) this.#pool.push(b);
  }

  #drop(key: string, p: Partial): void {
    this.#pending.delete(key);
    this.#give(p.buf);
    this.dropped++;
  }

  /**
   * The whole message body once `h` completes it; otherwise null. The body is valid until the
   * next call of `add` or `expire` (its buffer is reused).
   */
  add(buf: Uint8Array, h: FragmentHeader, now: number): Uint8Array | null {
    this.#give(this.#lent);
    this.#lent = null;
    const payload = buf.subarray(h.payloadOff, h.payloadOff + h.payloadLen);
    if (h.count === 1) return payload;
    // A relay's messages (origin ≠ sender) count under their own sequence numbers.
    const key = `${macKeyAt(buf, h.senderOff)}.${
      macKeyAt(buf, h.originOff)
    }.${h.idHi}.${h.idLo}.${h.seq}`;
    let p = this.#pending.get(key);
    if (!p) {
      if (this.#pending.size >= this.maxPending) {
        const [oldest, op] = this.#pending.entries().next().value!;
        this.#drop(oldest, op);
      }
      p = {
        buf: null,
        stride: 0,
        count: h.count,
        got: 0,
        have: new Uint8Array(h.count),
        total: 0,
        started: now,
        early: [],
      };
      this.#pending.set(key, p);
    }
    if (h.count !== p.count || p.have[h.index]) return null;
    // Every fragment but the last has the same length; anything else is corrupt or forged.
    if (h.index < h.count - 1 && p.stride !== 0 && h.payloadLen !== p.stride) {
      this.#drop(key, p);
      return null;
    }
    p.have[h.index] = 1;
    p.got++;
    if (h.index === h.count - 1) p.total += h.payloadLen;
    else {
      p.total += h.payloadLen;
      if (p.stride === 0) {
        p.stride = h.payloadLen;
        p.buf = this.#take(p.stride * p.count);
        for (const e of p.early) p.buf.set(e.data, e.index * p.stride);
        p.early = [];
      }
    }
    if (p.buf) p.buf.set(payload, h.index * p.stride);
    else p.early.push({ index: h.index, data: payload.slice() });
    if (p.got < p.count) return null;
    this.#pending.delete(key);
    this.#lent = p.buf;
    return p.buf!.subarray(0, p.total);
  }

  expire(now: number): void {
    this.#give(this.#lent);
    this.#lent = null;
    for (const [k, p] of this.#pending) {
      if (now - p.started > this.timeoutMs) this.#drop(k, p);
    }
  }

  get pending(): number {
    return this.#pending.size;
  }
}
