/**
 * Puts messages of several fragments back together, bounded whatever arrives. Pure.
 *
 * A message is opened only by its fragment 0, after the receiver accepted that fragment's header
 * (authenticated by its commit tag when encrypted, from the sender's own address when not):
 * fragment 0 fixes the shape (count, the length of every fragment but the last, the total), and
 * every later fragment must fit it exactly, so no write can leave the buffer. Fragments that come
 * before their fragment 0, or for no open message, are refused, never kept. Open messages are
 * bounded per sender and in all (the oldest goes first), and expire after `timeoutMs`. Buffers
 * come from a pool of fixed size (the largest wire body), so memory is at most
 * (`total` + 1) × that size however many senders, fragments or claims arrive.
 */
import {
  type FragmentHeader,
  fragmentHeader,
  MAX_WIRE,
  SLEEVE_FRAGMENT_HEADER,
  TAG_LEN,
} from "./format.ts";
import { macKeyAt } from "./frame.ts";

export interface ReassemblyLimits {
  /** Open messages per sender (the hop that sent them). */
  perSender: number;
  /** Open messages in all. */
  total: number;
  /** An open message not completed within this long is dropped. */
  timeoutMs: number;
}

export const DEFAULT_REASSEMBLY: ReassemblyLimits = { perSender: 16, total: 128, timeoutMs: 1000 };

/** Why a fragment was not taken. */
export type ReassemblyDrop =
  /** No open message for it (its fragment 0 did not come first, was refused, or expired). */
  | "orphan"
  /** It does not fit the shape fragment 0 committed to, or fragment 0's shape is impossible. */
  | "shape"
  /** That index (or that message's fragment 0) arrived before. */
  | "duplicate";

/** Buffer layout: fragment 0's header, then the wire body, then room for the tag. */
const BUF_SIZE = SLEEVE_FRAGMENT_HEADER + MAX_WIRE + TAG_LEN;

interface Open {
  key: string;
  sender: number;
  buf: Uint8Array;
  count: number;
  per: number;
  total: number;
  got: number;
  have: Uint8Array;
  started: number;
  header: FragmentHeader;
}

export class Reassembler {
  readonly limits: ReassemblyLimits;
  readonly #open = new Map<string, Open>();
  readonly #perSender = new Map<number, number>();
  readonly #pool: Uint8Array[] = [];
  #lent: Uint8Array | null = null;
  /** Open messages dropped for the limits (oldest first) or on expiry. */
  evicted = 0;
  expired = 0;
  /** The completed message's header (fragment 0's, pointing into the returned buffer). */
  readonly header: FragmentHeader = fragmentHeader();

  constructor(limits: Partial<ReassemblyLimits> = {}) {
    this.limits = { ...DEFAULT_REASSEMBLY, ...limits };
  }

  /** Incomplete messages held now. */
  get pending(): number {
    return this.#open.size;
  }

  /** Buffers allocated in all (held, pooled and lent): the memory bound's variable part. */
  get buffers(): number {
    return this.#open.size + this.#pool.length + (this.#lent ? 1 : 0);
  }

  static get bufferBytes(): number {
    return BUF_SIZE;
  }

  /**
   * Opens a message with its fragment 0 (whose header the caller accepted), of wire-body length
   * `total`. Returns null when opened, else why not.
   */
  begin(buf: Uint8Array, h: FragmentHeader, total: number, now: number): ReassemblyDrop | null {
    this.#reclaim();
    const per = h.payloadLen;
    // Every fragment but the last is `per` long; the last holds the rest (at least one byte).
    if (
      h.index !== 0 || h.count < 2 || per < 1 || total > MAX_WIRE ||
      total <= (h.count - 1) * per || total > h.count * per
    ) return "shape";
    const key = keyOf(buf, h);
    if (this.#open.has(key)) return "duplicate";
    const sender = macKeyAt(buf, h.senderOff);
    if ((this.#perSender.get(sender) ?? 0) >= this.limits.perSender) this.#evictOldest(sender);
    if (this.#open.size >= this.limits.total) this.#evictOldest(undefined);
    const b = this.#pool.pop() ?? new Uint8Array(BUF_SIZE);
    b.set(buf.subarray(h.headerOff, h.headerOff + SLEEVE_FRAGMENT_HEADER), 0);
    b.set(buf.subarray(h.payloadOff, h.payloadOff + per), SLEEVE_FRAGMENT_HEADER);
    const have = new Uint8Array(h.count);
    have[0] = 1;
    this.#open.set(key, {
      key,
      sender,
      buf: b,
      count: h.count,
      per,
      total,
      got: 1,
      have,
      started: now,
      header: { ...h, headerOff: 0, senderOff: 2, originOff: 24, destOff: 30 },
    });
    this.#perSender.set(sender, (this.#perSender.get(sender) ?? 0) + 1);
    return null;
  }

  /**
   * A later fragment (index ≥ 1). Returns the buffer holding the whole message when this one
   * completes it — fragment 0's header at 0, the wire body at `header.payloadOff` for
   * `header.payloadLen` bytes, then TAG_LEN spare bytes — valid until the next call; null while
   * waiting; else why the fragment was refused.
   */
  add(buf: Uint8Array, h: FragmentHeader): Uint8Array | ReassemblyDrop | null {
    this.#reclaim();
    const p = this.#open.get(keyOf(buf, h));
    if (!p) return "orphan";
    if (h.index === 0 || p.have[h.index] === 1) return "duplicate";
    const last = h.index === p.count - 1;
    const want = last ? p.total - p.per * (p.count - 1) : p.per;
    const at = SLEEVE_FRAGMENT_HEADER + h.index * p.per;
    if (h.count !== p.count || h.payloadLen !== want || at + want > p.buf.length) return "shape";
    p.buf.set(buf.subarray(h.payloadOff, h.payloadOff + want), at);
    p.have[h.index] = 1;
    if (++p.got < p.count) return null;
    this.#close(p);
    this.#lent = p.buf;
    Object.assign(this.header, p.header);
    this.header.payloadOff = SLEEVE_FRAGMENT_HEADER;
    this.header.payloadLen = p.total;
    return p.buf;
  }

  /** Drops open messages older than the timeout; returns how many. */
  expire(now: number): number {
    this.#reclaim();
    let n = 0;
    for (const p of this.#open.values()) {
      if (now - p.started <= this.limits.timeoutMs) continue;
      this.#close(p);
      this.#give(p.buf);
      n++;
    }
    this.expired += n;
    return n;
  }

  #evictOldest(sender: number | undefined): void {
    for (const p of this.#open.values()) {
      if (sender !== undefined && p.sender !== sender) continue;
      this.#close(p);
      this.#give(p.buf);
      this.evicted++;
      return;
    }
  }

  #close(p: Open): void {
    this.#open.delete(p.key);
    const n = (this.#perSender.get(p.sender) ?? 1) - 1;
    if (n > 0) this.#perSender.set(p.sender, n);
    else this.#perSender.delete(p.sender);
  }

  #reclaim(): void {
    if (this.#lent) this.#give(this.#lent);
    this.#lent = null;
  }

  #give(b: Uint8Array): void {
    if (this.#pool.length < this.limits.total) this.#pool.push(b);
  }
}

/** Names one message: its sender, origin, key id (or epoch) and sequence number. */
function keyOf(buf: Uint8Array, h: FragmentHeader): string {
  return `${macKeyAt(buf, h.senderOff)}.${macKeyAt(buf, h.originOff)}.${h.idHi}.${h.idLo}.${h.seq}`;
}
