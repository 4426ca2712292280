/**
 * The control connection's message codec. Pure: no I/O.
 *
 * After the handshake, the stream is a sequence of frames: a 4-byte big-endian length, then that
 * many bytes (sealed by the AEAD when a password is set). A frame's plaintext is a one-byte tag and
 * a body. Every length is bounded and every field checked, so garbage, truncated or oversized input
 * becomes a CodecError, which closes that one connection.
 */
import { z } from "zod";
import type { PeerName } from "./gossip_channel.ts";
import { peerNameBytes, peerNameFromBytes, UID_RE } from "./peer_name.ts";

export class CodecError extends Error {
  override name = "CodecError";
}

/** Largest frame accepted before the peer is authenticated (identity only). */
export const MAX_HANDSHAKE_FRAME = 4 * 1024;
/** Largest frame accepted afterwards (a full topology of thousands of peers fits). */
export const MAX_FRAME = 32 * 1024 * 1024;
export const MAX_CHANNEL_NAME = 64;
/** A unicast relayed more often than this is dropped (routes disagreeing during a change). */
export const MAX_HOPS = 32;

export const Tag = {
  heartbeat: 0,
  identity: 1,
  gossip: 2,
  broadcast: 3,
  unicast: 4,
  digest: 5,
} as const;

export interface Identity {
  name: PeerName;
  nickname: string;
  uid: string;
  /** The TCP port this peer listens on, so others can dial it at the address they see. */
  port: number;
}

export type Message =
  | { tag: typeof Tag.heartbeat }
  | { tag: typeof Tag.identity; identity: Identity }
  | { tag: typeof Tag.gossip; channel: string; data: Uint8Array }
  | { tag: typeof Tag.broadcast; channel: string; source: PeerName; data: Uint8Array }
  /** A summary of a channel's state for anti-entropy; `reply` answers one (and is not answered). */
  | { tag: typeof Tag.digest; channel: string; reply: boolean; data: Uint8Array }
  | {
    tag: typeof Tag.unicast;
    channel: string;
    source: PeerName;
    dest: PeerName;
    hops: number;
    data: Uint8Array;
  };

const identitySchema = z.object({
  name: z.string().regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/),
  nickname: z.string().max(64),
  uid: z.string().regex(UID_RE),
  port: z.number().int().min(1).max(65535),
}).strict();

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

function channelBytes(channel: string): Uint8Array {
  const b = enc.encode(channel);
  if (b.length === 0 || b.length > MAX_CHANNEL_NAME) {
    throw new CodecError(`channel name must be 1..${MAX_CHANNEL_NAME} bytes: "${channel}"`);
  }
  return b;
}

export function encodeMessage(m: Message): Uint8Array {
  switch (m.tag) {
    case Tag.heartbeat:
      return new Uint8Array([Tag.heartbeat]);
    case Tag.identity: {
      const body = enc.encode(JSON.stringify(m.identity));
      const out = new Uint8Array(1 + body.length);
      out[0] = m.tag;
      out.set(body, 1);
      return out;
    }
    case Tag.digest: {
      const ch = channelBytes(m.channel);
      const out = new Uint8Array(3 + ch.length + m.data.length);
      out[0] = m.tag;
      out[1] = ch.length;
      out.set(ch, 2);
      out[2 + ch.length] = m.reply ? 1 : 0;
      out.set(m.data, 3 + ch.length);
      return out;
    }
    case Tag.gossip:
    case Tag.broadcast:
    case Tag.unicast: {
      const ch = channelBytes(m.channel);
      const names = m.tag === Tag.gossip ? 0 : m.tag === Tag.broadcast ? 6 : 13;
      const out = new Uint8Array(2 + ch.length + names + m.data.length);
      out[0] = m.tag;
      out[1] = ch.length;
      out.set(ch, 2);
      let o = 2 + ch.length;
      if (m.tag !== Tag.gossip) {
        out.set(peerNameBytes(m.source), o);
        o += 6;
      }
      if (m.tag === Tag.unicast) {
        out.set(peerNameBytes(m.dest), o);
        out[o + 6] = m.hops;
        o += 7;
      }
      out.set(m.data, o);
      return out;
    }
  }
}

export function decodeMessage(b: Uint8Array): Message {
  if (b.length === 0) throw new CodecError("empty message");
  const tag = b[0];
  switch (tag) {
    case Tag.heartbeat:
      if (b.length !== 1) throw new CodecError("heartbeat with a body");
      return { tag };
    case Tag.identity: {
      let raw: unknown;
      try {
        raw = JSON.parse(dec.decode(b.subarray(1)));
      } catch {
        throw new CodecError("identity is not JSON");
      }
      const r = identitySchema.safeParse(raw);
      if (!r.success) {
        const i = r.error.issues[0];
        throw new CodecError(`invalid identity at ${i.path.join(".") || "(root)"}: ${i.message}`);
      }
      return { tag, identity: r.data };
    }
    case Tag.gossip:
    case Tag.broadcast:
    case Tag.unicast:
    case Tag.digest: {
      if (b.length < 2) throw new CodecError("truncated gossip header");
      const chLen = b[1];
      const names = tag === Tag.gossip
        ? 0
        : tag === Tag.broadcast
        ? 6
        : tag === Tag.digest
        ? 1
        : 13;
      if (chLen === 0 || chLen > MAX_CHANNEL_NAME) {
        throw new CodecError(`bad channel length ${chLen}`);
      }
      if (b.length < 2 + chLen + names) throw new CodecError("truncated gossip header");
      let channel: string;
      try {
        channel = dec.decode(b.subarray(2, 2 + chLen));
      } catch {
        throw new CodecError("channel name is not UTF-8");
      }
      let o = 2 + chLen;
      if (tag === Tag.gossip) return { tag, channel, data: b.slice(o) };
      if (tag === Tag.digest) {
        if (b[o] > 1) throw new CodecError(`unknown digest flags ${b[o]}`);
        return { tag, channel, reply: b[o] === 1, data: b.slice(o + 1) };
      }
      const source = peerNameFromBytes(b.subarray(o, o + 6));
      o += 6;
      if (tag === Tag.broadcast) return { tag, channel, source, data: b.slice(o) };
      const dest = peerNameFromBytes(b.subarray(o, o + 6));
      const hops = b[o + 6];
      if (hops > MAX_HOPS) throw new CodecError(`unicast exceeded ${MAX_HOPS} hops`);
      return { tag, channel, source, dest, hops, data: b.slice(o + 7) };
    }
    default:
      throw new CodecError(`unknown message tag ${tag}`);
  }
}

/** Prefixes a frame with its length. */
export function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + payload.length);
  new DataView(out.buffer).setUint32(0, payload.length);
  out.set(payload, 4);
  return out;
}

/**
 * Splits a byte stream into frames, whatever the chunking. The limit can be raised once the
 * peer is authenticated. A length over the limit throws before anything is buffered for it.
 * Chunks are joined only once a frame is complete, so a large frame costs one copy.
 */
export class FrameReader {
  #chunks: Uint8Array[] = [];
  #total = 0;
  constructor(public maxFrame: number) {}

  /** Feeds bytes; returns the complete frames now available. */
  push(chunk: Uint8Array): Uint8Array[] {
    if (chunk.length > 0) {
      this.#chunks.push(chunk.slice());
      this.#total += chunk.length;
    }
    const out: Uint8Array[] = [];
    while (this.#total >= 4) {
      const head = this.#peek(4);
      const len = new DataView(head.buffer, head.byteOffset).getUint32(0);
      if (len > this.maxFrame) {
        throw new CodecError(`frame of ${len} bytes exceeds the limit of ${this.maxFrame}`);
      }
      if (this.#total < 4 + len) break;
      const all = this.#peek(this.#total);
      out.push(all.slice(4, 4 + len));
      const rest = all.subarray(4 + len);
      this.#chunks = rest.length > 0 ? [rest] : [];
      this.#total = rest.length;
    }
    return out;
  }

  /** Bytes held for a frame not complete yet. */
  get pending(): number {
    return this.#total;
  }

  /** The first `n` buffered bytes, joining chunks into one when needed. */
  #peek(n: number): Uint8Array {
    if (this.#chunks[0].length >= n) return this.#chunks[0];
    const joined = new Uint8Array(this.#total);
    let o = 0;
    for (const c of this.#chunks) {
      joined.set(c, o);
      o += c.length;
    }
    this.#chunks = [joined];
    return joined;
  }
}
