/**
 * The mesh's topology, wired: the store of entries, the gossip channel that verifies and merges
 * them, and the registry of peers' keys, with what drops and refusals cost (a counter, and a log
 * line at most every LOG_INTERVAL_MS per kind). The Mesh holds one; the simulator builds its
 * parts directly.
 */
import { describeCause } from "../cause.ts";
import { isForgery } from "./authorship.ts";
import type { Gossip, GossipEvents } from "./gossip.ts";
import type { GossipChannel, PeerName } from "./gossip_channel.ts";
import type { PeerKeys } from "./keys.ts";
import type { Logger } from "../log.ts";
import { LogLimiter } from "./log_limit.ts";
import { type TopologyDrop, TopologyGossip } from "./topology_gossip.ts";
import { type SelfIdentity, type Signer, TopologyStore } from "./topology_store.ts";

export const TOPOLOGY_CHANNEL = "topology";
const LOG_INTERVAL_MS = 10_000;

export interface LocalTopologyOptions {
  id: SelfIdentity;
  signer: Signer;
  keys: PeerKeys;
  gossip: Gossip;
  log: Logger;
  now?: () => number;
  /** Default: a timeout (topology_gossip.ts says why slices pause). */
  defer?: (fn: () => void, pauseMs: number) => void;
}

export class LocalTopology {
  readonly store: TopologyStore;
  readonly gossiper: TopologyGossip;
  readonly channel: GossipChannel;
  readonly #log: Logger;
  readonly #limiter = new LogLimiter(LOG_INTERVAL_MS);
  readonly #now: () => number;

  constructor(o: LocalTopologyOptions) {
    this.#log = o.log;
    this.#now = o.now ?? Date.now;
    this.store = new TopologyStore(o.id, o.signer, {
      onListenerError: (e) =>
        this.#log.error("topology change listener failed", { error: describeCause(e) ?? e }),
    });
    this.gossiper = new TopologyGossip({
      store: this.store,
      keys: o.keys,
      now: this.#now,
      defer: o.defer ?? ((fn, pauseMs) => setTimeout(fn, pauseMs)),
      onDrop: (reason, from, detail) => this.#onDrop(reason, from, detail),
    });
    // Entries are signed by their authors and the source of a message is not used.
    this.channel = o.gossip.channel(TOPOLOGY_CHANNEL, this.gossiper, { signedEnvelopes: false });
    this.gossiper.attach(this.channel);
    // A key replaced (the Kubernetes API) or forgotten (rmpeer): the entry it signed goes too.
    o.keys.onRebind((name) => this.store.drop(name));
    this.store.onNameConflict((uid) =>
      this.#log.error(
        "another live peer uses our name: give each node a distinct --name (cloned machine id?)",
        { name: o.id.name, otherUid: uid },
      )
    );
  }

  /** A log line for `kind`, unless one was logged in the last LOG_INTERVAL_MS. */
  limited(kind: string, message: string, fields: Record<string, unknown>): void {
    const r = this.#limiter.allow(kind, this.#now());
    if (r.log) this.#log.warn(message, { ...fields, suppressedSinceLast: r.suppressed });
  }

  #onDrop(
    reason: TopologyDrop,
    from: PeerName,
    detail: { peer?: PeerName; error?: string },
  ): void {
    const fields = { reason, from, ...detail };
    if (reason === "malformed") this.limited(reason, "topology message rejected", fields);
    else if (isForgery(reason)) {
      this.limited("forged", "forged topology entry dropped (not signed by its peer)", fields);
    } else if (reason === "backlog") {
      this.limited(reason, "topology entries dropped: too many waiting for verification", fields);
    } else this.#log.debug("topology entry dropped for now", fields);
  }
}

/** How the mesh's gossip reports what it drops: logs, rate-limited where a peer can force them. */
export function gossipEvents(
  log: Logger,
  limited: (kind: string, message: string, fields: Record<string, unknown>) => void,
): GossipEvents {
  return {
    // A peer can send these at will: counted per channel (Gossip.stats), logged once a while.
    onRejected: (channel, from, e) =>
      limited(`rejected ${channel}`, "gossip rejected", {
        channel,
        from,
        error: describeCause(e),
      }),
    onUnknownChannel: (channel, from) =>
      log.debug("gossip for a channel not registered here", { channel, from }),
    onUnauthentic: (channel, from, source, check) =>
      limited(`envelope-${check}`, "gossip dropped: not signed by its source", {
        channel,
        from,
        source,
        check,
      }),
  };
}
