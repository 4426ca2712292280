/**
 * The userspace path's keys ("weavets sleeve v2"). Each control connection's key exchange gives
 * both of its ends the same data key (MeshView.dataKey: an 8-byte id and a 32-byte secret, new for
 * every connection, needing the password *and* one end's ephemeral private key). From it:
 *
 *   key(sender → receiver) = HKDF-SHA256(ikm = secret, salt = id,
 *                                        info = "weavets sleeve v2" ‖ sender ‖ receiver, 32 bytes)
 *
 * one key per direction, so a message cannot be reflected to its sender. Messages a peer relays for
 * another (origin ≠ sender) use a second pair, with info "weavets sleeve v2 relay" ‖ sender ‖
 * receiver: the relaying Worker keeps its own message counter, and a nonce is never used twice
 * under one key. The id travels in every
 * message header so the receiver picks the key. After a reconnection the previous connection's
 * receive key stays valid for a grace period (messages in flight still open); nothing else opens.
 * Pure apart from node:crypto's synchronous HKDF.
 */
import { hkdfSync } from "node:crypto";
import type { DataKey, PeerName } from "../../mesh/gossip_channel.ts";
import { parseMac } from "../../addr/mod.ts";
import { WeavetsError } from "../../errors.ts";

const LABEL = new TextEncoder().encode("weavets sleeve v2");
const RELAY_LABEL = new TextEncoder().encode("weavets sleeve v2 relay");
export const KEY_ID_BYTES = 8;
/** How long the previous connection's key still opens messages after a reconnection. */
export const DEFAULT_GRACE_MS = 10_000;
/** Ids that were once current and must never be used again (a nonce counter restarts with a key). */
const MAX_RETIRED = 65_536;
/**
 * Receive keys are numbered round a ring of this many slots: the receiving Worker keeps each
 * key's replay-window top in its slot of shared memory, so a restarted Worker still refuses
 * replays. A slot comes round again only after this many newer keys.
 */
export const KEY_SLOTS = 4096;

export class SleeveKeyError extends WeavetsError {
  override name = "SleeveKeyError";
  constructor(message: string, opts?: { cause?: unknown }) {
    super("invalid-input", message, opts);
  }
}

/**
 * The key for messages from `sender` to `receiver` (6-byte peer names) under one data key; with
 * `relay`, for the messages the sender relays for other peers.
 */
export function directionKey(
  dk: DataKey,
  sender: Uint8Array,
  receiver: Uint8Array,
  relay = false,
): Uint8Array {
  if (dk.id.length !== KEY_ID_BYTES || dk.secret.length < 32) {
    throw new SleeveKeyError("a data key needs an 8-byte id and a 32-byte secret");
  }
  if (sender.length !== 6 || receiver.length !== 6) {
    throw new SleeveKeyError("peer names are 6 bytes");
  }
  const label = relay ? RELAY_LABEL : LABEL;
  const info = new Uint8Array(label.length + 12);
  info.set(label);
  info.set(sender, label.length);
  info.set(receiver, label.length + 6);
  return new Uint8Array(hkdfSync("sha256", dk.secret, dk.id, info, 32));
}

export function keyIdHex(id: Uint8Array): string {
  return Array.from(id, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * A key as the Workers get it: `id` is 16 hex digits (the header's bytes 8..15); `key` seals or
 * opens the sender's own messages, `relay` those it relays.
 */
export interface WireKey {
  id: string;
  key: Uint8Array;
  relay: Uint8Array;
}

/** A key messages are opened with: until when (ms since 1970), and its slot (KEY_SLOTS). */
export interface RxWireKey extends WireKey {
  until: number;
  slot: number;
}

/** One peer's keys now: send with `tx`; accept `rx`. */
export interface PeerKeys {
  peer: PeerName;
  /** Absent: no connection to this peer, so nothing is sent to it. */
  tx?: WireKey;
  rx: RxWireKey[];
}

interface Derived {
  id: string;
  slot: number;
  tx: Uint8Array;
  rx: Uint8Array;
  txRelay: Uint8Array;
  rxRelay: Uint8Array;
}

/**
 * Per peer, the current connection's keys and, for a grace period after it was replaced or
 * closed, the previous one's receive key. An id that stopped being current never becomes
 * current again, so a send counter is never restarted under a key that was used.
 */
export class SleeveKeyRing {
  readonly #self: Uint8Array;
  readonly #peers = new Map<PeerName, { current?: Derived; previous?: Derived; until: number }>();
  readonly #retired = new Set<string>();
  #nextSlot = 0;

  constructor(self: PeerName, readonly graceMs = DEFAULT_GRACE_MS) {
    this.#self = parseMac(self);
  }

  /**
   * Brings the ring up to date with the data keys the mesh holds now (`keys`: one per peer with
   * an established connection). Returns the ids of keys that were refused because they had been
   * retired before (a mesh bug; logged by the caller).
   */
  sync(keys: ReadonlyMap<PeerName, DataKey>, now: number): string[] {
    const refused: string[] = [];
    for (const peer of new Set([...this.#peers.keys(), ...keys.keys()])) {
      const dk = keys.get(peer);
      let id = dk ? keyIdHex(dk.id) : undefined;
      if (id !== undefined && this.#retired.has(id)) {
        refused.push(id);
        id = undefined;
      }
      const e = this.#peers.get(peer) ?? { until: 0 };
      if (e.current?.id !== id) {
        if (e.current) {
          this.#retire(e.current.id);
          e.previous = e.current;
          e.until = now + this.graceMs;
        }
        e.current = undefined;
        if (id !== undefined) {
          const them = parseMac(peer);
          e.current = {
            id,
            slot: this.#nextSlot,
            tx: directionKey(dk!, this.#self, them),
            rx: directionKey(dk!, them, this.#self),
            txRelay: directionKey(dk!, this.#self, them, true),
            rxRelay: directionKey(dk!, them, this.#self, true),
          };
          this.#nextSlot = (this.#nextSlot + 1) % KEY_SLOTS;
        }
      }
      if (e.previous && e.until <= now) e.previous = undefined;
      if (e.current || e.previous) this.#peers.set(peer, e);
      else this.#peers.delete(peer);
    }
    return refused;
  }

  /** Every peer's keys, for the Workers (also peers not on the userspace path right now). */
  all(): PeerKeys[] {
    return [...this.#peers].map(([peer, e]) => {
      const out: PeerKeys = { peer, rx: [] };
      if (e.current) {
        out.tx = { id: e.current.id, key: e.current.tx, relay: e.current.txRelay };
        out.rx.push({
          id: e.current.id,
          key: e.current.rx,
          relay: e.current.rxRelay,
          until: Infinity,
          slot: e.current.slot,
        });
      }
      if (e.previous) {
        out.rx.push({
          id: e.previous.id,
          key: e.previous.rx,
          relay: e.previous.rxRelay,
          until: e.until,
          slot: e.previous.slot,
        });
      }
      return out;
    });
  }

  #retire(id: string): void {
    this.#retired.add(id);
    if (this.#retired.size > MAX_RETIRED) {
      this.#retired.delete(this.#retired.values().next().value!);
    }
  }
}
