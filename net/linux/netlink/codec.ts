/**
 * Netlink message and attribute encoding/decoding. Pure: no I/O, unit-tested without root.
 * Layout (linux/netlink.h): a 16-byte nlmsghdr {len u32, type u16, flags u16, seq u32, pid u32},
 * a fixed family header (ifinfomsg, ifaddrmsg, rtmsg, ndmsg), then attributes {len u16, type u16,
 * data}, each padded to 4 bytes. Integers are in host byte order (little-endian on every platform
 * weavets runs on) unless an attribute says otherwise (ports are big-endian).
 */

import { Errno } from "../errno.ts";
import { LinuxError } from "../errors.ts";

export const NLMSG_HDRLEN = 16;
export const NLA_HDRLEN = 4;
/** Attribute type bits that are flags, not part of the type. */
export const NLA_F_NESTED = 1 << 15;
export const NLA_F_NET_BYTEORDER = 1 << 14;
const NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;

export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

export const NLM_F_REQUEST = 0x01;
export const NLM_F_MULTI = 0x02;
export const NLM_F_ACK = 0x04;
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NLM_F_APPEND = 0x800;
/** Flags on an NLMSG_ERROR: the echoed request was capped / extended-ack TLVs follow. */
export const NLM_F_CAPPED = 0x100;
export const NLM_F_ACK_TLVS = 0x200;
export const NLMSGERR_ATTR_MSG = 1;

export function align4(n: number): number {
  return (n + 3) & ~3;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function badMessage(detail: string): LinuxError {
  return new LinuxError("parse netlink message", Errno.EINVAL, undefined, detail);
}

/**
 * Builds one netlink message: header, fixed family struct, attributes (nested via `nest`).
 * The length is filled in by `finish`, the sequence number too.
 */
export class MessageEncoder {
  #buf = new Uint8Array(256);
  #len = 0;
  readonly type: number;
  readonly flags: number;

  constructor(type: number, flags: number) {
    this.type = type;
    this.flags = flags;
    this.#reserve(NLMSG_HDRLEN);
    this.#len = NLMSG_HDRLEN;
  }

  get length(): number {
    return this.#len;
  }

  #reserve(extra: number): void {
    if (this.#len + extra <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#len + extra) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.#buf.subarray(0, this.#len));
    this.#buf = grown;
  }

  /** Appends raw bytes (a family header struct), padded to 4 bytes. */
  raw(bytes: Uint8Array): this {
    const padded = align4(bytes.length);
    this.#reserve(padded);
    this.#buf.set(bytes, this.#len);
    this.#buf.fill(0, this.#len + bytes.length, this.#len + padded);
    this.#len += padded;
    return this;
  }

  /** Appends one attribute with `data` as its payload. */
  attr(type: number, data: Uint8Array): this {
    const len = NLA_HDRLEN + data.length;
    if (len > 0xffff) throw badMessage(`attribute ${type} too long (${data.length} bytes)`);
    this.#reserve(align4(len));
    const v = new DataView(this.#buf.buffer);
    v.setUint16(this.#len, len, true);
    v.setUint16(this.#len + 2, type, true);
    this.#buf.set(data, this.#len + NLA_HDRLEN);
    this.#buf.fill(0, this.#len + len, this.#len + align4(len));
    this.#len += align4(len);
    return this;
  }

  u8(type: number, value: number): this {
    return this.attr(type, Uint8Array.of(value));
  }

  u16(type: number, value: number): this {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, value, true);
    return this.attr(type, b);
  }

  /** A big-endian (network byte order) 16-bit value, e.g. a UDP port. */
  u16be(type: number, value: number): this {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, value, false);
    return this.attr(type, b);
  }

  u32(type: number, value: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value >>> 0, true);
    return this.attr(type, b);
  }

  i32(type: number, value: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, value, true);
    return this.attr(type, b);
  }

  /** A NUL-terminated string attribute (IFLA_IFNAME, IFLA_INFO_KIND, …). */
  str(type: number, value: string): this {
    return this.attr(type, enc.encode(value + "\0"));
  }

  /** A nested attribute: everything `fill` appends becomes its payload. */
  nest(type: number, fill: () => void, nestedFlag = false): this {
    const start = this.#len;
    this.#reserve(NLA_HDRLEN);
    this.#len += NLA_HDRLEN;
    fill();
    const v = new DataView(this.#buf.buffer);
    const len = this.#len - start;
    if (len > 0xffff) throw badMessage(`nested attribute ${type} too long (${len} bytes)`);
    v.setUint16(start, len, true);
    v.setUint16(start + 2, nestedFlag ? type | NLA_F_NESTED : type, true);
    return this;
  }

  /** The finished message with its length, flags and sequence number set. */
  finish(seq: number, pid = 0): Uint8Array<ArrayBuffer> {
    const out = this.#buf.slice(0, this.#len);
    const v = new DataView(out.buffer);
    v.setUint32(0, this.#len, true);
    v.setUint16(4, this.type, true);
    v.setUint16(6, this.flags, true);
    v.setUint32(8, seq >>> 0, true);
    v.setUint32(12, pid >>> 0, true);
    return out;
  }
}

/** One decoded netlink message; `payload` is everything after the 16-byte header. */
export interface Message {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  payload: Uint8Array;
}

/** Splits a received buffer into messages, validating every length. */
export function decodeMessages(buf: Uint8Array): Message[] {
  const out: Message[] = [];
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = v.getUint32(off, true);
    if (len < NLMSG_HDRLEN || off + len > buf.length) {
      throw badMessage(`message at offset ${off} has length ${len}, ${buf.length - off} left`);
    }
    out.push({
      type: v.getUint16(off + 4, true),
      flags: v.getUint16(off + 6, true),
      seq: v.getUint32(off + 8, true),
      pid: v.getUint32(off + 12, true),
      payload: buf.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  if (off < buf.length && buf.length - off >= NLMSG_HDRLEN) {
    throw badMessage(`trailing ${buf.length - off} bytes`);
  }
  return out;
}

/** One attribute; `type` has the NESTED/NET_BYTEORDER flag bits removed. */
export interface Attr {
  type: number;
  nested: boolean;
  data: Uint8Array;
}

/** Decoded attributes with typed accessors. The last occurrence of a type wins in `get`. */
export class Attrs {
  readonly list: Attr[];
  readonly #byType = new Map<number, Uint8Array>();

  constructor(list: Attr[]) {
    this.list = list;
    for (const a of list) this.#byType.set(a.type, a.data);
  }

  has(type: number): boolean {
    return this.#byType.has(type);
  }

  get(type: number): Uint8Array | undefined {
    return this.#byType.get(type);
  }

  #view(type: number, size: number): DataView | undefined {
    const d = this.#byType.get(type);
    if (d === undefined) return undefined;
    if (d.length < size) throw badMessage(`attribute ${type} has ${d.length} bytes, need ${size}`);
    return new DataView(d.buffer, d.byteOffset, d.byteLength);
  }

  u8(type: number): number | undefined {
    return this.#view(type, 1)?.getUint8(0);
  }

  u16(type: number): number | undefined {
    return this.#view(type, 2)?.getUint16(0, true);
  }

  u16be(type: number): number | undefined {
    return this.#view(type, 2)?.getUint16(0, false);
  }

  u32(type: number): number | undefined {
    return this.#view(type, 4)?.getUint32(0, true);
  }

  i32(type: number): number | undefined {
    return this.#view(type, 4)?.getInt32(0, true);
  }

  /** A string attribute without its NUL terminator. */
  str(type: number): string | undefined {
    const d = this.#byType.get(type);
    if (d === undefined) return undefined;
    const nul = d.indexOf(0);
    return dec.decode(nul < 0 ? d : d.subarray(0, nul));
  }

  /** The attributes nested inside attribute `type` (empty when absent). */
  nested(type: number): Attrs {
    const d = this.#byType.get(type);
    return d === undefined ? new Attrs([]) : decodeAttrs(d);
  }
}

/** Decodes the attributes of `buf` starting at `offset` (after a family header). */
export function decodeAttrs(buf: Uint8Array, offset = 0): Attrs {
  const list: Attr[] = [];
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let off = offset;
  while (off + NLA_HDRLEN <= buf.length) {
    const len = v.getUint16(off, true);
    const rawType = v.getUint16(off + 2, true);
    if (len < NLA_HDRLEN || off + len > buf.length) {
      throw badMessage(`attribute at offset ${off} has length ${len}, ${buf.length - off} left`);
    }
    list.push({
      type: rawType & NLA_TYPE_MASK,
      nested: (rawType & NLA_F_NESTED) !== 0,
      data: buf.subarray(off + NLA_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return new Attrs(list);
}

/** The content of an NLMSG_ERROR: errno 0 is an acknowledgement. */
export interface ErrorPayload {
  /** Positive errno (the kernel sends it negated); 0 for an ACK. */
  errno: number;
  /** The kernel's extended-ack explanation, when NETLINK_EXT_ACK was enabled and it gave one. */
  message?: string;
}

/** Decodes an NLMSG_ERROR payload including extended-ack TLVs. */
export function decodeError(msg: Message): ErrorPayload {
  const p = msg.payload;
  if (p.length < 4) throw badMessage(`NLMSG_ERROR payload of ${p.length} bytes`);
  const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const errno = 0 - v.getInt32(0, true); // not -x: an ACK is 0, not -0
  if ((msg.flags & NLM_F_ACK_TLVS) === 0 || p.length < 4 + NLMSG_HDRLEN) return { errno };
  // After the error code comes the offending request: header only when capped, else all of it.
  const echoedLen = (msg.flags & NLM_F_CAPPED) !== 0 ? NLMSG_HDRLEN : v.getUint32(4, true);
  const tlvs = decodeAttrs(p, 4 + align4(echoedLen));
  const message = tlvs.str(NLMSGERR_ATTR_MSG);
  return message ? { errno, message } : { errno };
}

/** The error code an NLMSG_DONE may carry (a failed dump); 0 when none. */
export function decodeDoneError(msg: Message): number {
  if (msg.payload.length < 4) return 0;
  const code = new DataView(msg.payload.buffer, msg.payload.byteOffset, 4).getInt32(0, true);
  return code < 0 ? -code : 0;
}
