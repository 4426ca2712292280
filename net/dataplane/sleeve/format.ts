/**
 * The userspace path's wire format, "sleeve v4" (docs/PROTOCOL.md §7). Pure.
 *
 * A *message* carries one or more frame entries from one sender to one receiver:
 *   entry = u32 length ‖ virtio-net header (10 bytes) ‖ Ethernet frame
 * The virtio-net header travels with the frame so a TSO/GSO superframe read from the sending TAP
 * is written whole into the receiving TAP and the receiving kernel segments it (or hands it on
 * unsegmented to a pod's veth) — the userspace path never touches TCP segments one by one.
 *
 * A message is cut into *fragments* so that no UDP datagram on the underlay exceeds the path MTU;
 * every fragment is one datagram:
 *   0 magic 0x58 | 1 flags (bit 0: encrypted, bit 1: broadcast) | 2..7 sender peer name |
 *   8..15 key id | 16..23 message sequence number | 24..29 origin peer name |
 *   30..35 destination peer name (zeros for a broadcast) | 36 hops left | 37 version (4) |
 *   38 fragment index | 39 fragment count | 40..41 payload length
 * The sender is this hop's sender; the origin is the peer whose TAP the frames came from, and the
 * destination the peer whose TAP they go to (a broadcast goes along the origin's broadcast tree),
 * so a message can be relayed hop by hop (forward.ts). The key id names the hop's session key that
 * sealed the message (keys.ts); unencrypted, those bytes are the sender's epoch (random per start).
 *
 * The wire body of a one-fragment message is the body itself (encrypted: the ciphertext and its
 * tag). A message of several fragments opens with a *lead* in fragment 0: the wire body's total
 * length (u32), and when encrypted the message's tag and a *commit tag* that authenticates
 * fragment 0's header, the total and the message tag. So the receiver authenticates the message's
 * identity and shape from fragment 0 alone, before it buffers anything, and refuses fragments
 * that do not fit the shape it committed to. All fragments but the last have the same length,
 * which is what UDP GSO (UDP_SEGMENT) needs to send them with one system call, and each fragment
 * states its own length, so a GRO-coalesced receive buffer splits without ancillary data.
 */
import { WeavetsError } from "../../errors.ts";

export const SLEEVE_MAGIC = 0x58;
export const SLEEVE_VERSION = 4;
export const FLAG_ENCRYPTED = 1;
export const FLAG_BROADCAST = 2;
export const SLEEVE_FRAGMENT_HEADER = 42;
export const VNET_HDR_LEN = 10;
export const SLEEVE_ENTRY_HEADER = 4 + VNET_HDR_LEN;
/** The message AEAD's associated data: header bytes 0..37 (the same in every fragment). */
export const AAD_LEN = 38;
export const TAG_LEN = 16;
/** Fragment 0's lead: the wire body's total length, and when encrypted the two tags. */
export const LEAD_PLAIN = 4;
export const LEAD_SEALED = 4 + 2 * TAG_LEN;
/** The commit tag's associated data: fragment 0's header, the total and the message tag. */
export const COMMIT_AAD_LEN = SLEEVE_FRAGMENT_HEADER + 4 + TAG_LEN;
/** Hops a message may take: the origin sets it, every relay takes one off. */
export const DEFAULT_HOPS = 16;
/** The largest entry: a 64 KiB GSO superframe plus Ethernet header plus virtio-net header. */
export const MAX_ENTRY = VNET_HDR_LEN + 14 + 65535;
/** The largest message body a sender makes: one entry of the largest size. */
export const MAX_BODY = 4 + MAX_ENTRY;
/** The largest wire body of a message of several fragments (lead included). */
export const MAX_WIRE = LEAD_SEALED + MAX_BODY;
export const MAX_FRAGMENTS = 255;
/** The smallest fragment payload a sender uses (path MTU − 28 − header). */
export const MIN_FRAGMENT_PAYLOAD = 64;
/** Bytes one UDP GSO send may carry (65535 − IPv4 − UDP), and the kernel's segment limit. */
export const MAX_GSO_BYTES = 65507;
export const MAX_GSO_SEGMENTS = 64;

export class SleeveFormatError extends WeavetsError {
  override name = "SleeveFormatError";
  constructor(message: string, opts?: { cause?: unknown }) {
    super("invalid-input", message, opts);
  }
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

/** A header whose fields point at a header at offset 0 of a buffer (all zero but the offsets). */
export function fragmentHeader(): FragmentHeader {
  return {
    encrypted: false,
    broadcast: false,
    senderOff: 2,
    originOff: 24,
    destOff: 30,
    hops: 0,
    idHi: 0,
    idLo: 0,
    seq: 0,
    index: 0,
    count: 0,
    payloadOff: SLEEVE_FRAGMENT_HEADER,
    payloadLen: 0,
    headerOff: 0,
  };
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

/** Writes header bytes 0..37 (the message's associated data). */
export function writeAad(out: Uint8Array, off: number, h: MessageHeader): void {
  if (!Number.isInteger(h.hops) || h.hops < 0 || h.hops > 255) {
    throw new SleeveFormatError(`hops ${h.hops} is outside 0..255`);
  }
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
  out[off + 36] = h.hops;
  out[off + 37] = SLEEVE_VERSION;
}

/** Writes a whole fragment header: the message's bytes 0..37, then index, count and length. */
export function writeFragmentHeader(
  out: Uint8Array,
  off: number,
  h: MessageHeader,
  index: number,
  count: number,
  len: number,
): void {
  writeAad(out, off, h);
  out[off + 38] = index;
  out[off + 39] = count;
  out[off + 40] = len >> 8;
  out[off + 41] = len & 0xff;
}

/** Payload bytes per fragment for a given maximum UDP payload (path MTU − 28). */
export function fragmentPayload(segSize: number): number {
  const p = segSize - SLEEVE_FRAGMENT_HEADER;
  if (p < MIN_FRAGMENT_PAYLOAD) {
    throw new SleeveFormatError(`UDP segment size ${segSize} is too small`);
  }
  return p;
}

/** How a message of `bodyLen` bytes (plaintext) is cut. */
export interface FragmentPlan {
  count: number;
  /** Payload bytes of every fragment but the last. */
  per: number;
  /** The wire body's length: lead + body (+ tag when one fragment and encrypted). */
  total: number;
  /** Lead bytes at the start of fragment 0 (0 when the message is one fragment). */
  lead: number;
}

export function planFragments(bodyLen: number, segSize: number, encrypted: boolean): FragmentPlan {
  const per = fragmentPayload(segSize);
  const single = bodyLen + (encrypted ? TAG_LEN : 0);
  if (single <= per) return { count: 1, per, total: single, lead: 0 };
  const lead = encrypted ? LEAD_SEALED : LEAD_PLAIN;
  const total = lead + bodyLen;
  const count = Math.ceil(total / per);
  if (count > MAX_FRAGMENTS || bodyLen > MAX_BODY) {
    throw new SleeveFormatError(`message of ${bodyLen} bytes needs ${count} fragments (max 255)`);
  }
  return { count, per, total, lead };
}

/**
 * Writes the fragments of one message (its wire body given as consecutive `chunks`: the lead, if
 * any, then the body or ciphertext) into `out` from `off`; pushes [start, length] of each send
 * onto `sends`: with `gso`, one UDP GSO send per run of up to 64 full-size (exactly `segSize`)
 * fragments; without, one send per fragment. Returns the new offset, or -1 when `out` has no
 * room (nothing is pushed).
 */
export function writeFragments(
  out: Uint8Array,
  off: number,
  h: MessageHeader,
  plan: FragmentPlan,
  chunks: Uint8Array[],
  segSize: number,
  sends: number[],
  gso = true,
): number {
  const { count, per, total } = plan;
  let have = 0;
  for (const c of chunks) have += c.length;
  if (have !== total) {
    throw new SleeveFormatError(`${have} bytes of chunks for a ${total}-byte plan`);
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
    writeFragmentHeader(out, pos, h, i, count, len);
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
 * Returns false, having stopped, at the first malformed fragment: too short, another magic or
 * version, unknown flag bits, a count of 0, an index not below the count, or a length past the
 * end. Nothing else is checked here.
 */
export function forEachFragment(
  buf: Uint8Array,
  len: number,
  fn: (h: FragmentHeader) => void,
): boolean {
  let pos = 0;
  const dv = new DataView(buf.buffer, buf.byteOffset);
  const h = fragmentHeader();
  const end = Math.min(len, buf.length);
  while (pos < end) {
    if (end - pos < SLEEVE_FRAGMENT_HEADER || buf[pos] !== SLEEVE_MAGIC) return false;
    const plen = (buf[pos + 40] << 8) | buf[pos + 41];
    const count = buf[pos + 39];
    const index = buf[pos + 38];
    const flags = buf[pos + 1];
    if (
      pos + SLEEVE_FRAGMENT_HEADER + plen > end || count === 0 || index >= count ||
      (flags & ~(FLAG_ENCRYPTED | FLAG_BROADCAST)) !== 0 || buf[pos + 37] !== SLEEVE_VERSION
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
 * Returns false at the first malformed entry (entries before it were passed to `fn`).
 */
export function forEachEntry(
  body: Uint8Array,
  bodyLen: number,
  fn: (off: number, len: number) => void,
): boolean {
  const dv = new DataView(body.buffer, body.byteOffset);
  const end = Math.min(bodyLen, body.length);
  let pos = 0;
  while (pos < end) {
    if (end - pos < 4) return false;
    const n = dv.getUint32(pos);
    if (n < VNET_HDR_LEN + 14 || n > MAX_ENTRY || pos + 4 + n > end) return false;
    fn(pos + 4, n);
    pos += 4 + n;
  }
  return true;
}
