/**
 * What the receiving Worker does with a datagram before any I/O: split it into fragments, refuse
 * what does not come from a peer as it should, authenticate, put messages back together, and hand
 * each accepted message on. Pure apart from the AEAD (aead.ts), and it never throws on any input:
 * every refusal is one counter in `stats` (messages.ts STAT) and one `onRefused` call.
 *
 * - The sender (the header's name of this hop) must be a peer with an address. Unencrypted, the
 *   datagram must also come from that address (any port: one spoofing the address spoofs a port
 *   as easily), so a non-peer that knows a peer's name cannot inject frames or teach us where a
 *   MAC lives.
 * - Encrypted, the header's key id picks the sender's key (current, or previous within its
 *   grace); replays are refused before any work. A one-fragment message is opened at once. A
 *   message of several fragments is opened in the reassembler only after its fragment 0's commit
 *   tag authenticated the message's shape, so nothing a forger sends is ever buffered; the whole
 *   message is then opened once complete.
 * - Unencrypted, fragment 0 opens the message, from the sender's address.
 */
import { open, ReplayWindow, verifyCommit } from "./aead.ts";
import {
  AAD_LEN,
  COMMIT_AAD_LEN,
  forEachFragment,
  type FragmentHeader,
  LEAD_PLAIN,
  LEAD_SEALED,
  SLEEVE_FRAGMENT_HEADER,
  SLEEVE_MAGIC,
  SLEEVE_VERSION,
  TAG_LEN,
} from "./format.ts";
import { macKeyAt, macKeyFromString } from "./frame.ts";
import type { PeerKeys } from "./keys.ts";
import { DROP_REASONS, type SleevePeer, STAT } from "./messages.ts";
import { Reassembler, type ReassemblyDrop, type ReassemblyLimits } from "./reassembly.ts";
import { parseIPv4 } from "../../addr/mod.ts";

/** An underlay source as a number: IPv4 address × 65536 + UDP port. */
export type Source = number;

export function sourceOf(addr: string, port: number): Source {
  return parseIPv4(addr) * 65536 + port;
}

/** A receive key of a peer, with its replay windows (own messages, relayed ones). */
interface RxKey {
  idHi: number;
  idLo: number;
  key: Uint8Array;
  relay: Uint8Array;
  /** ms since 1970 after which it opens nothing (a previous connection's key); else Infinity. */
  until: number;
  slot: number;
  replay: ReplayWindow;
  relayReplay: ReplayWindow;
}

interface RxPeer {
  name: string;
  /** The address its datagrams come from (its record's, as a number); -1: none valid. */
  ip: number;
  keys: RxKey[];
}

export interface ReceiverOptions {
  self: string;
  encrypted: boolean;
  /** The Worker's counters (messages.ts STAT). */
  stats: Float64Array;
  /**
   * The keys' replay-window tops by slot (shared.ts): kept up to date here, and read back for the
   * keys of the first update after a restart.
   */
  tops: Float64Array;
  limits?: Partial<ReassemblyLimits>;
  /**
   * An accepted message: `body` is the plaintext (frame entries), `h` its header in `buf` (for
   * a reassembled message, fragment 0's header in the reassembler's buffer). Valid only during
   * the call.
   */
  onMessage(buf: Uint8Array, h: FragmentHeader, body: Uint8Array, sender: number): void;
  /** Something from `source` was refused for `reason` (already counted). */
  onRefused?(source: Source, reason: DropReason): void;
}

type Stat = keyof typeof DROP_REASONS;
type DropReason = (typeof DROP_REASONS)[Stat];

const REASSEMBLY_STAT: Record<ReassemblyDrop, Stat> = {
  orphan: "rxOrphan",
  shape: "rxBadShape",
  duplicate: "rxDuplicate",
};

export class SleeveReceiver {
  readonly #o: ReceiverOptions;
  readonly #stats: Float64Array;
  readonly reassembler: Reassembler;
  #peers = new Map<number, RxPeer>();
  #keys = new Map<string, RxKey>();
  #now = 0;
  #source: Source = -1;

  constructor(o: ReceiverOptions) {
    this.#o = o;
    this.#stats = o.stats;
    this.reassembler = new Reassembler(o.limits);
  }

  /** The peer name for a sender or origin MAC key, if it is a peer with an address. */
  peerName(key: number): string | undefined {
    return this.#peers.get(key)?.name;
  }

  /**
   * Replaces the peer table and keys. `restored`: this Worker replaces one that died, and these
   * keys were in use: their replay windows start from the tops it left.
   */
  setPeers(list: readonly SleevePeer[], update: readonly PeerKeys[], restored: boolean): void {
    const tops = this.#o.tops;
    const next = new Map<string, RxKey>();
    const keysOf = new Map<string, RxKey[]>();
    for (const k of update) {
      const mine: RxKey[] = [];
      for (const r of k.rx) {
        let key = this.#keys.get(r.id);
        if (!key) {
          const at = 2 * r.slot;
          if (!restored) tops.fill(-1, at, at + 2);
          key = {
            idHi: parseInt(r.id.slice(0, 8), 16),
            idLo: parseInt(r.id.slice(8), 16),
            key: r.key,
            relay: r.relay,
            until: r.until,
            slot: r.slot,
            replay: new ReplayWindow(4096, tops[at]),
            relayReplay: new ReplayWindow(4096, tops[at + 1]),
          };
        }
        key.until = r.until;
        next.set(r.id, key);
        mine.push(key);
      }
      keysOf.set(k.peer, mine);
    }
    this.#keys = next;
    const peers = new Map<number, RxPeer>();
    for (const p of list) {
      if (p.name === this.#o.self) continue;
      let ip = -1;
      try {
        ip = parseIPv4(p.addr);
      } catch {
        // no valid address gossiped: nothing unencrypted is taken from it
      }
      peers.set(macKeyFromString(p.name), { name: p.name, ip, keys: keysOf.get(p.name) ?? [] });
    }
    this.#peers = peers;
  }

  /** One received datagram (or several GRO-coalesced) from `source`, at `now` (ms since 1970). */
  datagram(buf: Uint8Array, len: number, source: Source, now: number): void {
    this.#now = now;
    this.#source = source;
    this.#stats[STAT.rxDatagrams]++;
    if (len >= SLEEVE_FRAGMENT_HEADER && buf[0] === SLEEVE_MAGIC && buf[37] !== SLEEVE_VERSION) {
      return this.#refuse("rxWrongVersion");
    }
    if (!forEachFragment(buf, len, (h) => this.#fragment(buf, h))) this.#refuse("rxMalformed");
  }

  /** Drops incomplete messages that timed out. */
  expire(now: number): void {
    this.#stats[STAT.rxExpired] += this.reassembler.expire(now);
  }

  #refuse(stat: Stat): void {
    this.#stats[STAT[stat]]++;
    this.#o.onRefused?.(this.#source, DROP_REASONS[stat]);
  }

  #fragment(buf: Uint8Array, h: FragmentHeader): void {
    const senderKey = macKeyAt(buf, h.senderOff);
    const peer = this.#peers.get(senderKey);
    if (!peer) return this.#refuse("rxUnknownSender");
    if (h.encrypted !== this.#o.encrypted) return this.#refuse("rxWrongMode");
    if (this.#o.encrypted) return this.#sealed(buf, h, senderKey, peer);
    if (Math.floor(this.#source / 65536) !== peer.ip) return this.#refuse("rxWrongSource");
    if (h.count === 1) {
      return this.#o.onMessage(
        buf,
        h,
        buf.subarray(h.payloadOff, h.payloadOff + h.payloadLen),
        senderKey,
      );
    }
    if (h.index === 0) {
      if (h.payloadLen < LEAD_PLAIN) return this.#refuse("rxBadShape");
      return this.#begin(buf, h, readU32(buf, h.payloadOff));
    }
    const whole = this.#add(buf, h);
    if (!whole) return;
    const w = this.reassembler.header;
    const body = whole.subarray(w.payloadOff + LEAD_PLAIN, w.payloadOff + w.payloadLen);
    this.#o.onMessage(whole, w, body, senderKey);
  }

  #sealed(buf: Uint8Array, h: FragmentHeader, senderKey: number, peer: RxPeer): void {
    if (h.count > 1 && h.index > 0) {
      const whole = this.#add(buf, h);
      if (whole) this.#openWhole(whole, this.reassembler.header, senderKey, peer);
      return;
    }
    const key = this.#keyFor(peer, h);
    if (!key) return this.#refuse("rxNoKey");
    const relayed = macKeyAt(buf, h.originOff) !== senderKey;
    const replay = relayed ? key.relayReplay : key.replay;
    if (!replay.check(h.seq)) return this.#refuse("rxReplayed");
    const secret = relayed ? key.relay : key.key;
    if (h.count === 1) {
      const aad = buf.subarray(h.headerOff, h.headerOff + AAD_LEN);
      const plain = open(
        secret,
        h.seq,
        aad,
        buf.subarray(h.payloadOff, h.payloadOff + h.payloadLen),
      );
      if (!plain) return this.#refuse("rxAuthFailed");
      return this.#accept(buf, h, senderKey, key, relayed, plain);
    }
    // Fragment 0: the commit tag authenticates the header, the total and the message's tag.
    if (h.payloadLen < LEAD_SEALED) return this.#refuse("rxBadShape");
    const aad = buf.subarray(h.headerOff, h.headerOff + COMMIT_AAD_LEN);
    const tag = buf.subarray(h.headerOff + COMMIT_AAD_LEN, h.headerOff + COMMIT_AAD_LEN + TAG_LEN);
    if (!verifyCommit(secret, h.seq, aad, tag)) return this.#refuse("rxAuthFailed");
    this.#begin(buf, h, readU32(buf, h.payloadOff));
  }

  /** A reassembled sealed message: its tag moves behind the ciphertext, then it is opened. */
  #openWhole(whole: Uint8Array, w: FragmentHeader, senderKey: number, peer: RxPeer): void {
    const key = this.#keyFor(peer, w);
    if (!key) return this.#refuse("rxNoKey");
    const relayed = macKeyAt(whole, w.originOff) !== senderKey;
    const end = w.payloadOff + w.payloadLen;
    whole.copyWithin(end, w.payloadOff + 4, w.payloadOff + 4 + TAG_LEN);
    const sealed = whole.subarray(w.payloadOff + LEAD_SEALED, end + TAG_LEN);
    const aad = whole.subarray(0, AAD_LEN);
    const plain = open(relayed ? key.relay : key.key, w.seq, aad, sealed);
    if (!plain) return this.#refuse("rxAuthFailed");
    this.#accept(whole, w, senderKey, key, relayed, plain);
  }

  #accept(
    buf: Uint8Array,
    h: FragmentHeader,
    senderKey: number,
    key: RxKey,
    relayed: boolean,
    plain: Uint8Array,
  ): void {
    const replay = relayed ? key.relayReplay : key.replay;
    if (!replay.accept(h.seq)) return this.#refuse("rxReplayed");
    this.#o.tops[2 * key.slot + (relayed ? 1 : 0)] = replay.top;
    this.#o.onMessage(buf, h, plain, senderKey);
  }

  #begin(buf: Uint8Array, h: FragmentHeader, total: number): void {
    const r = this.reassembler;
    const evicted = r.evicted;
    const why = r.begin(buf, h, total, this.#now);
    this.#stats[STAT.rxEvicted] += r.evicted - evicted;
    if (why) this.#refuse(REASSEMBLY_STAT[why]);
  }

  #add(buf: Uint8Array, h: FragmentHeader): Uint8Array | null {
    const r = this.reassembler.add(buf, h);
    if (typeof r === "string") {
      this.#refuse(REASSEMBLY_STAT[r]);
      return null;
    }
    return r;
  }

  #keyFor(peer: RxPeer, h: FragmentHeader): RxKey | undefined {
    for (const k of peer.keys) {
      if (k.idHi === h.idHi && k.idLo === h.idLo && this.#now < k.until) return k;
    }
    return undefined;
  }
}

function readU32(b: Uint8Array, off: number): number {
  return ((b[off] << 24) >>> 0) + (b[off + 1] << 16) + (b[off + 2] << 8) + b[off + 3];
}
