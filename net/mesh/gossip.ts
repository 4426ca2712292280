/**
 * Gossip over the mesh: named channels, broadcast along spanning trees, unicast hop by hop, and
 * anti-entropy. Sans I/O: it is handed a transport (send to a neighbour) and routes, so the daemon
 * runs it over TCP connections and the simulator over a simulated network.
 *
 * - broadcast: the originator sends to its children in its own BFS tree; each receiver merges and
 *   relays only what was new to it, to its children in the originator's tree. A receiver whose view
 *   does not place it in that tree yet (topology still spreading) floods to its neighbours instead;
 *   merging stops the flood wherever the news is old.
 * - gossip: a channel's full state to a neighbour, on connect and periodically (anti-entropy); what
 *   was new to the receiver is broadcast onward from it.
 * - unicast: forwarded along next hops, dropped after MAX_HOPS or when there is no route.
 */
import { encodeMessage, MAX_HOPS, type Message, Tag } from "./codec.ts";
import type { GossipChannel, Gossiper, PeerName } from "./gossip_channel.ts";

export interface GossipTransport {
  /** Peers with an established connection. */
  neighbours(): PeerName[];
  /** Sends an encoded message to a neighbour; false when that connection is gone. */
  send(to: PeerName, message: Uint8Array): boolean;
}

export interface GossipRoutes {
  unicastNextHop(dest: PeerName): PeerName | undefined;
  broadcastNextHops(source: PeerName): PeerName[] | null;
}

export interface ChannelStats {
  sentMessages: number;
  sentBytes: number;
  receivedMessages: number;
  receivedBytes: number;
}

export interface GossipEvents {
  /** A channel's gossiper threw on input (malformed or conflicting data): logged by the caller. */
  onRejected?(channel: string, from: PeerName, error: unknown): void;
  /** A message for a channel nobody registered here (a peer with more components). */
  onUnknownChannel?(channel: string, from: PeerName): void;
}

export class Gossip {
  readonly #channels = new Map<string, Gossiper>();
  readonly stats = new Map<string, ChannelStats>();

  constructor(
    readonly self: PeerName,
    private readonly transport: GossipTransport,
    private readonly routes: GossipRoutes,
    private readonly events: GossipEvents = {},
  ) {}

  /** Registers a channel. Peers already connected get its full state at once. */
  channel(name: string, gossiper: Gossiper): GossipChannel {
    if (this.#channels.has(name)) throw new Error(`gossip channel "${name}" already registered`);
    encodeMessage({ tag: Tag.gossip, channel: name, data: new Uint8Array() }); // validates the name
    this.#channels.set(name, gossiper);
    this.stats.set(name, { sentMessages: 0, sentBytes: 0, receivedMessages: 0, receivedBytes: 0 });
    for (const n of this.transport.neighbours()) this.#sendFull(n, name, gossiper);
    return {
      broadcast: (update) => this.#spread(name, this.self, update, null),
      unicast: (to, data) => this.#unicast(name, this.self, to, 0, data),
    };
  }

  /** A new established neighbour: give it every channel's full state. */
  neighbourUp(name: PeerName): void {
    for (const [ch, g] of this.#channels) this.#sendFull(name, ch, g);
  }

  /**
   * Anti-entropy round: to up to `fanout` random neighbours, every channel's digest (channels
   * that have one) or full state.
   */
  antiEntropy(fanout: number, random: () => number = Math.random): void {
    const ns = this.transport.neighbours();
    for (let i = ns.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [ns[i], ns[j]] = [ns[j], ns[i]];
    }
    for (const n of ns.slice(0, fanout)) {
      for (const [ch, g] of this.#channels) {
        if (g.digest) {
          this.#send(
            n,
            ch,
            encodeMessage({ tag: Tag.digest, channel: ch, reply: false, data: g.digest() }),
          );
        } else this.#sendFull(n, ch, g);
      }
    }
  }

  /** A gossip, broadcast or unicast message from neighbour `from`. */
  receive(from: PeerName, m: Message, size: number): void {
    if (m.tag === Tag.heartbeat || m.tag === Tag.identity) return;
    const g = this.#channels.get(m.channel);
    if (!g) {
      this.events.onUnknownChannel?.(m.channel, from);
      return;
    }
    const st = this.stats.get(m.channel)!;
    st.receivedMessages++;
    st.receivedBytes += size;
    try {
      if (m.tag === Tag.digest) {
        if (!g.onDigest || !g.digest) return;
        const { update, behind } = g.onDigest(from, m.data);
        if (update) {
          this.#send(
            from,
            m.channel,
            encodeMessage({ tag: Tag.gossip, channel: m.channel, data: update }),
          );
        }
        if (behind && !m.reply) {
          this.#send(
            from,
            m.channel,
            encodeMessage({ tag: Tag.digest, channel: m.channel, reply: true, data: g.digest() }),
          );
        }
        return;
      }
      if (m.tag === Tag.unicast) {
        if (m.dest === this.self) g.onUnicast(m.source, m.data);
        else this.#unicast(m.channel, m.source, m.dest, m.hops + 1, m.data);
        return;
      }
      const origin = m.tag === Tag.broadcast ? m.source : from;
      const delta = g.onGossip(origin, m.data);
      if (delta === null) return;
      // Relay a broadcast in its originator's tree; news learned by gossip spreads from here.
      if (m.tag === Tag.broadcast) this.#spread(m.channel, m.source, delta, from);
      else this.#spread(m.channel, this.self, delta, from);
    } catch (e) {
      this.events.onRejected?.(m.channel, from, e);
    }
  }

  #spread(channel: string, source: PeerName, data: Uint8Array, from: PeerName | null): void {
    const tree = this.routes.broadcastNextHops(source);
    const hops = tree ?? this.transport.neighbours();
    if (hops.length === 0) return;
    const msg = encodeMessage({ tag: Tag.broadcast, channel, source, data });
    for (const n of hops) {
      if (n === from || n === source) continue;
      this.#send(n, channel, msg);
    }
  }

  #unicast(channel: string, source: PeerName, to: PeerName, hops: number, data: Uint8Array) {
    if (to === this.self) {
      this.#channels.get(channel)!.onUnicast(source, data);
      return true;
    }
    if (hops > MAX_HOPS) return false;
    const next = this.routes.unicastNextHop(to);
    if (next === undefined) return false;
    const msg = encodeMessage({ tag: Tag.unicast, channel, source, dest: to, hops, data });
    return this.#send(next, channel, msg);
  }

  #sendFull(to: PeerName, channel: string, g: Gossiper): void {
    let data: Uint8Array;
    try {
      data = g.fullState();
    } catch (e) {
      this.events.onRejected?.(channel, this.self, e);
      return;
    }
    this.#send(to, channel, encodeMessage({ tag: Tag.gossip, channel, data }));
  }

  #send(to: PeerName, channel: string, msg: Uint8Array): boolean {
    const ok = this.transport.send(to, msg);
    if (ok) {
      const st = this.stats.get(channel)!;
      st.sentMessages++;
      st.sentBytes += msg.length;
    }
    return ok;
  }
}
