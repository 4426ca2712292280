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
 *
 * Envelopes (docs/PROTOCOL.md, "Authorship"): a broadcast or unicast names its source, and a relay
 * must not be able to forge it (an IPAM space request in another peer's name would make a peer
 * donate to it). So the source signs what it sends — the channel, itself, the destination of a
 * unicast and the payload — and every receiver checks that against the source's bound key before
 * its channel sees anything; relays pass a broadcast on as the source signed it. Only a channel
 * whose every record is signed by its author and which never uses the source (the topology) may
 * opt out.
 */
import { encodeMessage, MAX_HOPS, type Message, Tag } from "./codec.ts";
import type { GossipChannel, Gossiper, PeerName, SignatureCheck } from "./gossip_channel.ts";
import { peerNameBytes } from "./peer_name.ts";
import { SIGNATURE_BYTES } from "./signing.ts";

/** Signature domains of envelopes (net/mesh/signing.ts). */
export const BROADCAST_DOMAIN = "gossip/broadcast";
export const UNICAST_DOMAIN = "gossip/unicast";

/** This peer's signing key and the bound keys of others (MeshView.sign / verify). */
export interface GossipAuth {
  sign(domain: string, payload: Uint8Array): Uint8Array;
  verify(
    author: PeerName,
    domain: string,
    payload: Uint8Array,
    signature: Uint8Array,
  ): SignatureCheck;
}

export interface ChannelOptions {
  /**
   * Default true. False only for a channel whose records are each signed by their author and
   * that never uses a message's source (its forgery would then only change a relay tree).
   */
  signedEnvelopes?: boolean;
}

const enc = new TextEncoder();

/** What an envelope's signature covers (after the domain): channel, source, dest, payload. */
export function envelopeBytes(
  channel: string,
  source: PeerName,
  dest: PeerName | null,
  payload: Uint8Array,
): Uint8Array {
  const ch = enc.encode(channel);
  const head = 1 + ch.length + 6 + (dest === null ? 0 : 6);
  const out = new Uint8Array(head + payload.length);
  out[0] = ch.length;
  out.set(ch, 1);
  out.set(peerNameBytes(source), 1 + ch.length);
  if (dest !== null) out.set(peerNameBytes(dest), 7 + ch.length);
  out.set(payload, head);
  return out;
}

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
  /** Envelopes whose signature did not verify under the source's bound key. */
  forged: number;
  /** Envelopes from a source without a bound key yet, dropped without blame. */
  unknownSource: number;
  /** Messages from peers the channel's gossiper threw on (malformed or conflicting data). */
  rejected: number;
}

export interface GossipEvents {
  /** A channel's gossiper threw on input (malformed or conflicting data): logged by the caller. */
  onRejected?(channel: string, from: PeerName, error: unknown): void;
  /** A message for a channel nobody registered here (a peer with more components): counted. */
  onUnknownChannel?(channel: string, from: PeerName): void;
  /** An envelope that failed its check (counted in stats): for a rate-limited log line. */
  onUnauthentic?(
    channel: string,
    from: PeerName,
    source: PeerName,
    check: Exclude<SignatureCheck, "valid">,
  ): void;
}

interface Channel {
  gossiper: Gossiper;
  signed: boolean;
}

export class Gossip {
  readonly #channels = new Map<string, Channel>();
  readonly stats = new Map<string, ChannelStats>();
  /** Messages for channels not registered here (one count: the names are the sender's). */
  unknownChannel = 0;

  constructor(
    readonly self: PeerName,
    private readonly transport: GossipTransport,
    private readonly routes: GossipRoutes,
    private readonly auth: GossipAuth,
    private readonly events: GossipEvents = {},
  ) {}

  /** Registers a channel. Peers already connected get its full state at once. */
  channel(name: string, gossiper: Gossiper, opts: ChannelOptions = {}): GossipChannel {
    if (this.#channels.has(name)) throw new Error(`gossip channel "${name}" already registered`);
    encodeMessage({ tag: Tag.gossip, channel: name, data: new Uint8Array() }); // validates the name
    const signed = opts.signedEnvelopes ?? true;
    this.#channels.set(name, { gossiper, signed });
    this.stats.set(name, {
      sentMessages: 0,
      sentBytes: 0,
      receivedMessages: 0,
      receivedBytes: 0,
      forged: 0,
      unknownSource: 0,
      rejected: 0,
    });
    for (const n of this.transport.neighbours()) this.#sendFull(n, name, gossiper);
    return {
      broadcast: (update) =>
        this.#spread(name, this.self, this.#seal(name, this.self, null, update), null),
      unicast: (to, data) => {
        if (to === this.self) {
          gossiper.onUnicast(this.self, data);
          return true;
        }
        return this.#unicast(name, this.self, to, 0, this.#seal(name, this.self, to, data));
      },
    };
  }

  /** A new established neighbour: give it every channel's full state. */
  neighbourUp(name: PeerName): void {
    for (const [ch, c] of this.#channels) this.#sendFull(name, ch, c.gossiper);
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
      for (const [ch, { gossiper: g }] of this.#channels) {
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
    if (m.tag === Tag.heartbeat || m.tag === Tag.identity || m.tag === Tag.rekey) return;
    const c = this.#channels.get(m.channel);
    if (!c) {
      this.unknownChannel++;
      this.events.onUnknownChannel?.(m.channel, from);
      return;
    }
    const g = c.gossiper;
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
        // Relays pass it on as sealed; only its destination checks it.
        if (m.dest !== this.self) {
          this.#unicast(m.channel, m.source, m.dest, m.hops + 1, m.data);
          return;
        }
        const payload = this.#open(c, m.channel, from, m.source, m.dest, m.data);
        if (payload) g.onUnicast(m.source, payload);
        return;
      }
      if (m.tag === Tag.gossip) {
        // From the neighbour itself (the connection is authenticated): news spreads from here.
        const delta = g.onGossip(from, m.data);
        if (delta !== null) {
          this.#spread(m.channel, this.self, this.#seal(m.channel, this.self, null, delta), from);
        }
        return;
      }
      const payload = this.#open(c, m.channel, from, m.source, null, m.data);
      if (!payload) return;
      const delta = g.onGossip(m.source, payload);
      if (delta === null) return;
      // Relay in its originator's tree: as the source sealed it, or (unsigned channels) the news.
      this.#spread(m.channel, m.source, c.signed ? m.data : delta, from);
    } catch (e) {
      st.rejected++;
      this.events.onRejected?.(m.channel, from, e);
    }
  }

  /** An envelope as sent: the payload, signed by `source` on a signed channel. */
  #seal(
    channel: string,
    source: PeerName,
    dest: PeerName | null,
    payload: Uint8Array,
  ): Uint8Array {
    if (!this.#channels.get(channel)!.signed) return payload;
    const domain = dest === null ? BROADCAST_DOMAIN : UNICAST_DOMAIN;
    const sig = this.auth.sign(domain, envelopeBytes(channel, source, dest, payload));
    const data = new Uint8Array(SIGNATURE_BYTES + payload.length);
    data.set(sig);
    data.set(payload, SIGNATURE_BYTES);
    return data;
  }

  /** The payload of a received envelope, or null (counted) when its source did not sign it. */
  #open(
    c: Channel,
    channel: string,
    from: PeerName,
    source: PeerName,
    dest: PeerName | null,
    data: Uint8Array,
  ): Uint8Array | null {
    if (!c.signed) return data;
    const sig = data.subarray(0, SIGNATURE_BYTES);
    const payload = data.subarray(SIGNATURE_BYTES);
    const check = data.length < SIGNATURE_BYTES ? "invalid" : this.auth.verify(
      source,
      dest === null ? BROADCAST_DOMAIN : UNICAST_DOMAIN,
      envelopeBytes(channel, source, dest, payload),
      sig,
    );
    if (check === "valid") return payload;
    const st = this.stats.get(channel)!;
    if (check === "invalid") st.forged++;
    else st.unknownSource++;
    this.events.onUnauthentic?.(channel, from, source, check);
    return null;
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
