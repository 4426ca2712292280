/**
 * Which addresses this peer dials, and when: the configured peers, the targets set at run time
 * (Kubernetes Nodes) and the peers discovered from the topology, each retried with backoff.
 * Sans-I/O like gossip.ts (weaveworks/mesh's connection_maker.go without the goroutine): inputs
 * are events and `now`, and `due()` says what to dial now and when to wake next. The router owns
 * the sockets and one timer.
 */
import { backoffDelay, type BackoffOptions } from "./backoff.ts";
import type { PeerName } from "./gossip_channel.ts";
import { hostOf, parsePeerAddress } from "./peer_address.ts";
import { reportsEstablished } from "./routes.ts";

/** configured: flags and KUBE_PEERS; dynamic: setTargets (Kubernetes Nodes); discovered: topology. */
export type Origin = "configured" | "dynamic" | "discovered";
export type TargetState = "connecting" | "established" | "retrying" | "failed";

export interface TargetStatus {
  address: string;
  origin: Origin;
  state: TargetState;
  reason?: string;
  /** Epoch ms of the next attempt (retrying or failed). */
  retryAt?: number;
  /** The peer found at this address, once a handshake succeeded. */
  peer?: PeerName;
}

interface Target extends TargetStatus {
  attempt: number;
  lastAttempt?: number;
}

export interface MakerOptions {
  backoff: BackoffOptions;
  /** Returns [0, 1): the backoff's jitter. */
  random?: () => number;
  /**
   * Discovered addresses must use this port (the mesh port). Null accepts any port: only for
   * tests on loopback, where every peer listens on an ephemeral port.
   */
  discoveryPort: number | null;
  /** With --kube: a discovered address must be the host of a configured or dynamic target. */
  discoverOnlyTargetHosts: boolean;
  /** At most this many discovered targets at once (a gossiped topology cannot make a scanner). */
  maxDiscovered: number;
}

/** What the router does now: dial these addresses, and call `due` again at `wakeAt`. */
export interface Due {
  dial: string[];
  wakeAt: number | null;
}

/** The facts about one topology entry that discovery needs. */
export interface EntryFacts {
  name: PeerName;
  connections: ReadonlyArray<{ name: PeerName; address: string; established: boolean }>;
}

/**
 * The addresses discovery may dial: connections that BOTH ends list as established (one forged
 * entry naming addresses is not enough), to peers not connected here, reported by a peer other
 * than this one. The address is as the reporting end saw it.
 */
export function corroboratedAddresses(
  entries: Iterable<EntryFacts>,
  self: PeerName,
  connected: (peer: PeerName) => boolean,
): Map<string, PeerName> {
  const byName = new Map<PeerName, EntryFacts>();
  for (const e of entries) byName.set(e.name, e);
  const wanted = new Map<string, PeerName>();
  for (const e of byName.values()) {
    for (const c of e.connections) {
      if (!c.established || c.name === self || c.name === e.name || connected(c.name)) continue;
      // Indexed per entry: this runs on every topology change.
      if (reportsEstablished(byName.get(c.name), e.name)) wanted.set(c.address, c.name);
    }
  }
  return wanted;
}

export class ConnectionMaker {
  readonly #opts: MakerOptions;
  readonly #random: () => number;
  readonly #targets = new Map<string, Target>();
  readonly #connected = new Set<PeerName>();

  constructor(opts: MakerOptions) {
    this.#opts = opts;
    this.#random = opts.random ?? Math.random;
  }

  /**
   * Replaces the targets of one origin: new ones are due at once; dropped ones are no longer
   * retried (an established connection stays). A configured address given again as dynamic stays
   * configured.
   */
  setTargets(addresses: readonly string[], origin: "configured" | "dynamic"): void {
    const next = new Set(addresses);
    for (const [address, t] of this.#targets) {
      if (t.origin === origin && !next.has(address)) this.#targets.delete(address);
    }
    for (const address of next) {
      const t = this.#targets.get(address);
      if (!t) this.#targets.set(address, { address, origin, state: "retrying", attempt: 0 });
      else if (t.origin === "discovered" || origin === "configured") t.origin = origin;
    }
  }

  /** True when `host` is the host of a configured or dynamic target (a peer we were told of). */
  isTargetHost(host: string): boolean {
    for (const t of this.#targets.values()) {
      if (t.origin !== "discovered" && hostOf(t.address) === host) return true;
    }
    return false;
  }

  /**
   * The topology's corroborated addresses (see corroboratedAddresses). New allowed ones become
   * targets; discovered targets no longer wanted are dropped unless connecting or established.
   * A target backing off whose peer someone just reached is up: it is due now, at most once per
   * base delay.
   */
  discovered(wanted: ReadonlyMap<string, PeerName>, now: number): void {
    for (const [address, t] of this.#targets) {
      if (t.origin !== "discovered" || t.state === "established" || t.state === "connecting") {
        continue;
      }
      if (!wanted.has(address)) this.#targets.delete(address);
    }
    let count = [...this.#targets.values()].filter((t) => t.origin === "discovered").length;
    for (const [address, peer] of wanted) {
      const known = this.#targets.get(address);
      if (known) {
        if (
          known.state === "retrying" && now - (known.lastAttempt ?? 0) >= this.#opts.backoff.baseMs
        ) {
          known.retryAt = now;
        }
        continue;
      }
      if (count >= this.#opts.maxDiscovered || !this.#allowed(address)) continue;
      this.#targets.set(address, {
        address,
        origin: "discovered",
        state: "retrying",
        attempt: 0,
        peer,
      });
      count++;
    }
  }

  /** A dial or its handshake failed; `permanent` when retrying cannot help without a change. */
  dialFailed(address: string, reason: string, permanent: boolean, now: number): void {
    const t = this.#targets.get(address);
    if (!t) return;
    this.#backOff(t, reason, now, permanent ? "failed" : "retrying");
  }

  /** The address leads to ourself: never dial it again. */
  forget(address: string): void {
    this.#targets.delete(address);
  }

  /** A connection to `peer` was admitted (dialled at `address`, or inbound from it). */
  connected(address: string | null, peer: PeerName): void {
    this.#connected.add(peer);
    const t = address === null ? undefined : this.#targets.get(address);
    if (t) t.peer = peer;
    for (const x of this.#targets.values()) {
      if (x.peer === peer) this.#established(x);
    }
  }

  /** The connection to `peer` ended: its targets are redialled after the first backoff step. */
  disconnected(peer: PeerName, reason: string, now: number): void {
    this.#connected.delete(peer);
    for (const t of this.#targets.values()) {
      if (t.peer === peer && t.state === "established") {
        t.attempt = 0;
        this.#backOff(t, `connection closed: ${reason}`, now, "retrying");
      }
    }
  }

  /**
   * What to dial now: due targets, at most `capacity` of them (the connection limit's room);
   * the rest wait for their next backoff step. Dialled targets are "connecting" until
   * `connected` or `dialFailed`.
   */
  due(now: number, capacity: number): Due {
    const dial: string[] = [];
    let wakeAt: number | null = null;
    for (const t of this.#targets.values()) {
      if (t.state === "connecting" || t.state === "established") continue;
      if (t.peer && this.#connected.has(t.peer)) {
        this.#established(t);
        continue;
      }
      if ((t.retryAt ?? 0) > now) {
        wakeAt = Math.min(wakeAt ?? Infinity, t.retryAt!);
        continue;
      }
      if (dial.length >= capacity) {
        this.#backOff(t, "connection limit reached", now, "retrying");
        wakeAt = Math.min(wakeAt ?? Infinity, t.retryAt!);
        continue;
      }
      t.state = "connecting";
      t.lastAttempt = now;
      t.reason = undefined;
      t.retryAt = undefined;
      dial.push(t.address);
    }
    return { dial, wakeAt };
  }

  /** Every target, for status (discovered ones included). */
  targets(): TargetStatus[] {
    return [...this.#targets.values()].map(({ address, origin, state, reason, retryAt, peer }) => ({
      address,
      origin,
      state,
      reason,
      retryAt,
      peer,
    }));
  }

  #allowed(address: string): boolean {
    let host: string, port: number;
    try {
      ({ host, port } = parsePeerAddress(address));
    } catch {
      return false; // a gossiped address is data from the network
    }
    if (this.#opts.discoveryPort !== null && port !== this.#opts.discoveryPort) return false;
    return !this.#opts.discoverOnlyTargetHosts || this.isTargetHost(host);
  }

  #established(t: Target): void {
    t.state = "established";
    t.attempt = 0;
    t.reason = undefined;
    t.retryAt = undefined;
  }

  #backOff(t: Target, reason: string, now: number, state: "retrying" | "failed"): void {
    t.state = state;
    t.reason = reason;
    t.retryAt = now + backoffDelay(t.attempt++, this.#opts.backoff, this.#random);
  }
}
