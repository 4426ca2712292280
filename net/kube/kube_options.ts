/** What `weavets daemon --kube` is given (net/kube/kube.ts), and its timing defaults. */
import type { Logger } from "../log.ts";
import type { KubeClient } from "./client.ts";
import type { PeerKeyClaim } from "./peer_keys.ts";
import type { Backoff } from "./tasks.ts";
import type { Node } from "./types.ts";

export interface KubeOptions {
  client: KubeClient;
  /** This node's name (NODE_NAME, from the downward API). */
  nodeName: string;
  /** This peer's name (aa:bb:cc:dd:ee:ff). */
  peerName: string;
  log: Logger;
  /** The peer addresses to connect to: called once before startKube resolves, then on change. */
  onTargets(addrs: string[]): void;
  /** IPAM rmpeer: take over the dead peer's address space; resolves to the number of IPs. */
  rmpeer(peerName: string): Promise<number>;
  /** Forget persisted state (IPAM ring, ownership); called before startKube resolves, if at all. */
  resetLocalState(): Promise<void>;
  /** True once this node's network is up (bridge ready, IPAM ready). Polled. */
  networkReady(): boolean;
  /**
   * This peer's signing key, published on its Node, and what to do with everyone's: called with
   * every Node after each change, and with each deleted Node (net/kube/peer_keys.ts).
   */
  peerKeys?: {
    claim: PeerKeyClaim;
    onNodes(nodes: Node[]): void;
    onNodeDeleted(node: Node): void;
  };
  /** Aborting it is stop(), also while startKube is still retrying. */
  signal?: AbortSignal;
  /** Defaults suit production; tests shorten them. */
  timing?: Partial<KubeTiming>;
}

export interface KubeTiming extends Backoff {
  /** Random delay before a reclaim pass (Weave Net: 0–5 s), so peers do not all race at once. */
  reclaimJitterMs: number;
  /** A reclaim pass also runs this often (abandoned locks, missed events). */
  resyncMs: number;
  /** How often networkReady() is polled until it is true. */
  readyPollMs: number;
}

export const DEFAULT_TIMING: KubeTiming = {
  backoffBaseMs: 500,
  backoffCapMs: 30_000,
  reclaimJitterMs: 5_000,
  resyncMs: 60_000,
  readyPollMs: 1_000,
};
