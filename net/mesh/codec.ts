/**
 * The control connection's message codec. Pure: no I/O.
 *
 * After the handshake, the stream is a sequence of frames: a 4-byte big-endian length, then that
 * many bytes, sealed by the AEAD. A frame's plaintext is a one-byte tag and a body. Every length is bounded and every field checked, so garbage, truncated or oversized input
 * becomes a CodecError, which closes that one connection.
 */
import { z } from "zod";
import { WeavetsError } from "../errors.ts";
import type { PeerName } from "./gossip_channel.ts";
import { peerNameBytes, peerNameFromBytes, UID_RE } from "./peer_name.ts";

/** Garbage from a peer (`invalid-input`); a frame over a bound is `too-large`. */
export class CodecError extends WeavetsError {
  override name = "CodecError";
  /** Set for the refusals that weavets_connection_refusals_total counts. */
  constructor(message: string, readonly refusal?: "frame-too-large" | "frame-budget") {
    super(refusal ? "too-large" : "invalid-input", message);
  }
}

/** Largest frame accepted before the peer is authenticated (identity only). */
export const MAX_HANDSHAKE_FRAME = 4 * 1024;
/**
 * Largest frame from a peer that is authenticated but not known here (not a target, not a
 * Kubernetes node, no key vouched for): enough for the topology of a small cluster.
 */
export const MAX_UNKNOWN_FRAME = 1024 * 1024;
/** Largest frame from a known peer (a full topology of thousands of peers fits). */
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
  /** The sender's next frames use its direction's next key (crypto.ts ratchet). */
  rekey: 6,
} as const;

export interface Identity {
  name: PeerName;
  nickname: string;
  uid: string;
  /** The TCP port this peer listens on, so others can dial it at the address they see. */
  port: number;
}

/** The identity as sent: with the signing key and its signature over the handshake transcript. */
export interface WireIdentity extends Identity {
  /** Ed25519 public key, publicKeyToText (43 characters of base64url). */
  key: string;
  /** Ed25519 signature (86 characters of base64url), see handshake_io.ts `identityProof`. */
  sig: string;
  /**
   * Present (true) only when the sender's --trusted-subnets hold this end's address (Weave's
   * "Trusted" feature). Absent means not trusted, so identities without trusted subnets are
   * byte-for-byte what they were. Bound into the signature (identityProof's role byte).
   */
  trusted?: true;
}

export type Message =
  | { tag: typeof Tag.heartbeat }
  | { tag: typeof Tag.rekey }
  | { tag: typeof Tag.identity; identity: WireIdentity }
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
  key: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  sig: z.string().regex(/^[A-Za-z0-9_-]{86}$/),
  trusted: z.literal(true).optional(),
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
    case Tag.rekey:
      return new Uint8Array([m.tag]);
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
    case Tag.rekey:
      if (b.length !== 1) throw new CodecError("heartbeat or rekey with a body");
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
 * The bytes all connections together may hold for frames not complete yet: ten peers each
 * half-sending a 32 MiB frame must not grow the daemon by hundreds of megabytes.
 */
export class FrameBudget {
  #used = 0;
  constructor(readonly limit: number) {}

  get used(): number {
    return this.#used;
  }

  take(n: number): boolean {
    if (this.#used + n > this.limit) return false;
    this.#used += n;
    return true;
  }

  give(n: number): void {
    this.#used = Math.max(0, this.#used - n);
  }
}

/**
 * Splits a byte stream into frames, whatever the chunking. `limit()` is asked for each frame's
 * length (it rises as the peer is authenticated and known); a length over it throws before
 * anything is buffered for it. Bytes held for an incomplete frame are charged to the budget.
 * Chunks are joined only once a frame is complete, so a large frame costs one copy.
 */
export class FrameReader {
  #chunks: Uint8Array[] = [];
  #total = 0;
  #charged = 0;
  #chargedTo: FrameBudget | undefined;
  /** `budget()`: the budget to charge now (it may change as the peer becomes known). */
  constructor(readonly limit: () => number, readonly budget?: () => FrameBudget) {}

  /** Feeds bytes; returns the complete frames now available. */
  push(chunk: Uint8Array): Uint8Array[] {
    if (chunk.length > 0) {
      this.#chunks.push(chunk.slice());
      this.#total += chunk.length;
    }
    const out: Uint8Array[] = [];
    while (this.#total >= 4) {
      const len = this.#length();
      const max = this.limit();
      if (len > max) {
        throw new CodecError(
          `frame of ${len} bytes exceeds the limit of ${max}`,
          "frame-too-large",
        );
      }
      if (this.#total < 4 + len) break;
      const all = this.#peek(this.#total);
      out.push(all.slice(4, 4 + len));
      const rest = all.subarray(4 + len);
      this.#chunks = rest.length > 0 ? [rest] : [];
      this.#total = rest.length;
    }
    this.#charge();
    return out;
  }

  /** Bytes held for a frame not complete yet. */
  get pending(): number {
    return this.#total;
  }

  /** The declared length of the incomplete frame (0 while its length is not complete). */
  get pendingLength(): number {
    return this.#total >= 4 ? this.#length() : 0;
  }

  /** Gives the held bytes back to the budget (the connection closed). */
  release(): void {
    this.#chunks = [];
    this.#total = 0;
    this.#charge();
  }

  #charge(): void {
    const budget = this.#total > 0 ? this.budget?.() : undefined;
    if (this.#chargedTo && this.#chargedTo !== budget) {
      this.#chargedTo.give(this.#charged);
      this.#charged = 0;
    }
    this.#chargedTo = budget;
    if (!budget) return;
    const delta = this.#total - this.#charged;
    if (delta <= 0) {
      budget.give(-delta);
      this.#charged = this.#total;
    } else if (budget.take(delta)) {
      this.#charged = this.#total;
    } else {
      this.release();
      throw new CodecError(
        `the ${budget.limit}-byte budget for incomplete frames is used up`,
        "frame-budget",
      );
    }
  }

  #length(): number {
    const head = this.#peek(4);
    return new DataView(head.buffer, head.byteOffset).getUint32(0);
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
