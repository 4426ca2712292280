/**
 * TEST DOUBLE: an in-memory mesh for IPAM services in one process. Every node that is up reaches
 * every other node that is up; messages are delivered asynchronously (a macrotask later), in
 * order per sender; a node that goes down loses what was in flight to it. When a node comes up,
 * it and every other node exchange full state, as the real mesh does on a new connection.
 */
import { describeCause } from "../../cause.ts";
import type {
  GossipChannel,
  Gossiper,
  MeshView,
  PeerInfo,
  PeerName,
} from "../../mesh/gossip_channel.ts";
import { TestKeyring } from "../../mesh/testing/keyring.ts";

interface Node {
  name: PeerName;
  nickname: string;
  up: boolean;
  gossipers: Map<string, Gossiper>;
  listeners: Set<() => void>;
}

export class FakeNetwork {
  readonly #nodes = new Map<PeerName, Node>();
  #inflight = 0;
  readonly errors: string[] = [];
  /** Every node's signing key (real Ed25519 signatures). */
  readonly keyring = new TestKeyring();

  /** A MeshView for a node (created on first use, up). Call again after `down` to restart it. */
  join(name: PeerName, nickname = name.slice(-5)): MeshView {
    const node: Node = { name, nickname, up: true, gossipers: new Map(), listeners: new Set() };
    this.#nodes.set(name, node);
    const view: MeshView = {
      ...this.keyring.view(name),
      self: name,
      peers: () => this.#peersOf(node),
      onChange: (cb) => {
        node.listeners.add(cb);
        return () => node.listeners.delete(cb);
      },
      channel: (channelName, gossiper): GossipChannel => {
        if (node.gossipers.has(channelName)) throw new Error(`channel ${channelName} twice`);
        node.gossipers.set(channelName, gossiper);
        // A new channel on a node that is up: exchange state with everyone (connection set-up).
        setTimeout(() => this.#exchange(node, channelName), 0);
        return {
          broadcast: (update) => {
            for (const other of this.#nodes.values()) {
              if (other !== node) this.#send(node, other, channelName, "gossip", update);
            }
          },
          unicast: (to, data) => {
            const other = this.#nodes.get(to);
            if (!other?.up || !node.up) return false;
            this.#send(node, other, channelName, "unicast", data);
            return true;
          },
        };
      },
    };
    this.#changed();
    return view;
  }

  /** The node stops (crash): no more messages to or from it; others see it unreachable. */
  down(name: PeerName): void {
    const n = this.#nodes.get(name);
    if (!n) return;
    n.up = false;
    n.gossipers.clear();
    n.listeners.clear();
    this.#changed();
  }

  /** Resolves once no message is in flight. */
  async settle(): Promise<void> {
    while (this.#inflight > 0) await new Promise((r) => setTimeout(r, 1));
  }

  #peersOf(self: Node): PeerInfo[] {
    return [...this.#nodes.values()].map((n) => ({
      name: n.name,
      nickname: n.nickname,
      reachable: n === self || (n.up && self.up),
    }));
  }

  #changed(): void {
    for (const n of this.#nodes.values()) for (const cb of n.listeners) cb();
  }

  #exchange(node: Node, channel: string): void {
    const mine = node.gossipers.get(channel);
    if (!mine || !node.up) return;
    for (const other of this.#nodes.values()) {
      const theirs = other.gossipers.get(channel);
      if (other === node || !other.up || !theirs) continue;
      this.#send(node, other, channel, "gossip", mine.fullState());
      this.#send(other, node, channel, "gossip", theirs.fullState());
    }
  }

  #send(from: Node, to: Node, channel: string, kind: "gossip" | "unicast", data: Uint8Array) {
    if (!from.up || !to.up) return;
    this.#inflight++;
    setTimeout(() => {
      this.#inflight--;
      const g = to.gossipers.get(channel);
      if (!to.up || !g) return;
      try {
        if (kind === "gossip") g.onGossip(from.name, data);
        else g.onUnicast(from.name, data);
      } catch (e) {
        this.errors.push(`${to.name}: ${describeCause(e)}`);
      }
    }, 0);
  }
}
