/**
 * The "macs" gossip channel's logic, sans I/O: this peer's own signed record (publish), what
 * arrives from others (authenticate, merge, re-assert above a record of our own), refusal
 * counters and their rate-limited log lines. The clock is an input and the mesh is reached only
 * through `sign`/`verify`; dataplane.ts wires it to MeshView.channel. mac_channel_test.ts runs
 * two of them against each other without root or sockets.
 */
import type { PeerName, SignatureCheck } from "../../mesh/gossip_channel.ts";
import { LogLimiter } from "../../mesh/log_limit.ts";
import {
  authenticate,
  compareRecords,
  decodeRecords,
  encodeRecords,
  MacGossipState,
  mustReassert,
  nextVersion,
  type PeerRecord,
  type SignedRecord,
  signRecord,
} from "./mac_gossip.ts";

export const MAC_CHANNEL = "macs";

export type Refusal = "invalid" | "unknown-author" | "jump";

export interface MacChannelDeps {
  self: PeerName;
  sign(domain: string, payload: Uint8Array): Uint8Array;
  verify(author: PeerName, domain: string, payload: Uint8Array, sig: Uint8Array): SignatureCheck;
  /** A refusal worth a log line (at most one per reason every 10 s; never "unknown-author"). */
  onRefusal?(
    reason: Refusal,
    detail: { from: PeerName; peer: PeerName; suppressedSinceLast: number },
  ): void;
}

/** What this peer says about itself, but for who it is and the version (the channel adds them). */
export type OwnFields = Omit<PeerRecord, "peer" | "version">;

export class MacChannel {
  readonly state = new MacGossipState();
  readonly refused: Record<Refusal, number> = { invalid: 0, "unknown-author": 0, jump: 0 };
  #mine: SignedRecord | undefined;
  readonly #limiter = new LogLimiter(10_000);

  constructor(private readonly deps: MacChannelDeps) {}

  get mine(): PeerRecord | undefined {
    return this.#mine?.record;
  }

  /** Signs this peer's record (above any record of its own `seen`); returns the message to broadcast. */
  publish(fields: OwnFields, nowMs: number, seen = 0): Uint8Array {
    const version = nextVersion(this.#mine?.record.version ?? 0, nowMs, seen);
    this.#mine = signRecord(
      { peer: this.deps.self, version, ...fields },
      (d, p) => this.deps.sign(d, p),
    );
    this.state.putOwn(this.#mine);
    return encodeRecords([this.#mine]);
  }

  fullState(): Uint8Array {
    return encodeRecords(this.state.signed());
  }

  /**
   * Merges a message from `from` (throws on a malformed one: the mesh logs and drops it).
   * `forward`: what was new, for the mesh to pass on (null: nothing); `fresh`: those records;
   * `reassert`: this peer's own record re-signed above one of its own that outranked it, to
   * broadcast (null: none needed).
   */
  receive(from: PeerName, data: Uint8Array, nowMs: number): {
    forward: Uint8Array | null;
    fresh: PeerRecord[];
    reassert: Uint8Array | null;
  } {
    const { others, own, dropped } = authenticate(
      decodeRecords(data),
      this.deps.self,
      (a, d, p, s) => this.deps.verify(a, d, p, s),
    );
    for (const d of dropped) this.#refuse(d.reason, from, d.peer, nowMs);
    const { fresh, jumped } = this.state.merge(others);
    for (const p of jumped) this.#refuse("jump", from, p, nowMs);
    const top = own.reduce<SignedRecord | undefined>(
      (a, b) => (!a || compareRecords(b, a) > 0 ? b : a),
      undefined,
    );
    let reassert: Uint8Array | null = null;
    if (top && this.#mine && mustReassert(this.#mine, top)) {
      // A record of our own (an earlier life, or the same version with other content) outranks
      // what we say now: announce above it, so every peer ends with ours.
      const { peer: _p, version: _v, ...fields } = this.#mine.record;
      reassert = this.publish(fields, nowMs, top.record.version);
    }
    return {
      forward: fresh.length ? encodeRecords(fresh) : null,
      fresh: fresh.map((r) => r.record),
      reassert,
    };
  }

  #refuse(reason: Refusal, from: PeerName, peer: PeerName, now: number): void {
    this.refused[reason]++;
    if (reason === "unknown-author") return; // no blame: its key is not known here yet
    const r = this.#limiter.allow(reason, now);
    if (r.log) this.deps.onRefusal?.(reason, { from, peer, suppressedSinceLast: r.suppressed });
  }
}

/** The log line for a refusal. */
export function refusalMessage(reason: Refusal): string {
  return reason === "invalid"
    ? "macs record dropped: not signed by the peer it describes (a forgery or corruption)"
    : reason === "jump"
    ? "macs record dropped: its version jumps too far ahead of the one held"
    : "macs record dropped: its author's key is not known here yet";
}
