/**
 * `weavets daemon --kube`: peers from the Kubernetes API.
 *
 * - Registers this peer in the ConfigMap's peer list (starting fresh first when it had been
 *   removed), lists Nodes and hands every other node's address to the mesh, then watches Nodes
 *   (re-listing when the watch expires) so new nodes are dialled and removed ones dropped.
 * - When a node is gone, exactly one surviving peer runs rmpeer for the peer that ran there: the
 *   peers race to write a lock annotation, and the ConfigMap's resourceVersion lets only one win.
 * - Once the network is up on this node, sets the node condition NetworkUnavailable=False.
 * - An unreachable API server is retried with backoff; the peers already known are kept.
 */
import { describeCause } from "../cause.ts";
import type { Logger } from "../log.ts";
import { isConflict, isGone, KubeApiError } from "./client.ts";
import {
  claim,
  completeReclaim,
  CONFIGMAP_NAME,
  CONFIGMAP_NAMESPACE,
  deadPeers,
  peerList,
  type PeerRecord,
  peerTargets,
  register,
  releaseClaim,
} from "./peers.ts";
import { DEFAULT_TIMING, type KubeOptions, type KubeTiming } from "./kube_options.ts";
import { peerKeyPatch } from "./peer_keys.ts";
import { Stopped, Tasks } from "./tasks.ts";
import type { ConfigMap, Node } from "./types.ts";

export interface KubeHandle {
  /** Stops watching and every background task; resolves when they have ended. */
  stop(): Promise<void>;
}

/** Condition reason on the Node, like Weave Net's WeaveIsUp. */
export const READY_REASON = "WeavetsIsUp";

/**
 * Registers this peer, lists the Nodes and reports the first targets, then keeps following the
 * API in the background. Resolves once the peer may start (local state reset if it had to be);
 * retries (with backoff) for as long as the API server is unreachable, until `stop()`.
 */
export async function startKube(opts: KubeOptions): Promise<KubeHandle> {
  const kube = new Kube(opts);
  await kube.start();
  return { stop: () => kube.stop() };
}

class Kube {
  readonly #o: KubeOptions;
  readonly #t: KubeTiming;
  readonly #log: Logger;
  readonly #self: PeerRecord;
  readonly #tasks: Tasks;
  #nodes = new Map<string, Node>();
  #targets: string[] | undefined;
  #reclaimQueued = false;
  #reclaimFailures = 0;
  #reclaiming: Promise<void> | undefined;

  constructor(o: KubeOptions) {
    this.#o = o;
    this.#t = { ...DEFAULT_TIMING, ...o.timing };
    this.#log = o.log.with({ component: "kube" });
    this.#self = { peerName: o.peerName, nodeName: o.nodeName };
    this.#tasks = new Tasks(this.#log, this.#t);
    o.signal?.addEventListener("abort", () => this.stop(), { once: true });
  }

  async start(): Promise<void> {
    const keys = this.#o.peerKeys;
    if (keys) {
      await this.#retrying(
        "publish the peer key",
        () => this.#o.client.patchNode(this.#self.nodeName, peerKeyPatch(keys.claim), this.#signal),
      );
    }
    await this.#register();
    const list = await this.#retrying("list nodes", () => this.#o.client.listNodes(this.#signal));
    this.#replaceNodes(list.items);
    this.#log.info("nodes listed", { nodes: list.items.length });
    if (!this.#nodes.has(this.#self.nodeName)) {
      this.#log.warn("this node is not among the cluster's nodes: is NODE_NAME right?", {
        node: this.#self.nodeName,
      });
    }
    this.#tasks.run("watch", this.#watch(list.metadata.resourceVersion));
    this.#tasks.run("node condition", this.#markReady());
    this.#tasks.run("resync", this.#resync());
    this.#queueReclaim();
  }

  async stop(): Promise<void> {
    await this.#tasks.stop();
    await this.#reclaiming;
  }

  get #signal(): AbortSignal {
    return this.#tasks.signal;
  }

  // --- registration ----------------------------------------------------------------------------

  async #register(): Promise<void> {
    let waited = false;
    for (;;) {
      const cm = await this.#getConfigMap();
      const reg = register(cm, this.#self, Date.now());
      if (reg.kind === "listed") {
        this.#log.info("peer listed", { peer: this.#self.peerName, node: this.#self.nodeName });
        return;
      }
      if (reg.kind === "wait") {
        this.#log.warn("another peer is reclaiming this peer's addresses; waiting", {
          holder: reg.holder,
        });
        waited = true;
        await this.#sleep(this.#t.backoffBaseMs * 2);
        continue;
      }
      // Forget stale state before joining the list: a crash in between retries the reset.
      if (reg.fresh || waited) {
        this.#log.warn(
          "peer not in the peer list (new node, or reclaimed after its node was " +
            "deleted): starting with fresh state",
          { peer: this.#self.peerName },
        );
        await this.#o.resetLocalState();
      }
      try {
        await this.#updateConfigMap(reg.cm);
        this.#log.info("peer added to the peer list", {
          peer: this.#self.peerName,
          node: this.#self.nodeName,
        });
        return;
      } catch (e) {
        if (!isConflict(e)) throw e;
        this.#log.debug("peer list changed meanwhile; retrying", { op: "register" });
      }
    }
  }

  // --- nodes -----------------------------------------------------------------------------------

  #replaceNodes(items: Node[]): void {
    const before = this.#nodes;
    this.#nodes = new Map(items.map((n) => [n.metadata.name, n]));
    const gone = [...before.values()].filter((n) => !this.#nodes.has(n.metadata.name));
    if (gone.length > 0) {
      this.#log.info("nodes gone", { nodes: gone.map((n) => n.metadata.name) });
      for (const n of gone) this.#o.peerKeys?.onNodeDeleted(n);
    }
    this.#o.peerKeys?.onNodes([...this.#nodes.values()]);
    this.#emitTargets();
  }

  #emitTargets(): void {
    const next = peerTargets(this.#nodes.values(), this.#self.nodeName);
    if (this.#targets && next.join(" ") === this.#targets.join(" ")) return;
    this.#targets = next;
    this.#log.info("peer targets", { targets: next });
    this.#o.onTargets(next);
  }

  async #watch(resourceVersion: string): Promise<void> {
    let rv: string | undefined = resourceVersion;
    let failures = 0;
    while (!this.#signal.aborted) {
      try {
        if (rv === undefined) {
          const list = await this.#o.client.listNodes(this.#signal);
          this.#replaceNodes(list.items);
          rv = list.metadata.resourceVersion;
          this.#queueReclaim();
        }
        for await (const ev of this.#o.client.watchNodes(rv, this.#signal)) {
          failures = 0;
          rv = ev.object.metadata.resourceVersion;
          if (ev.type === "BOOKMARK") continue;
          const node = ev.object;
          if (ev.type === "DELETED") {
            this.#nodes.delete(node.metadata.name);
            this.#log.info("node deleted", { node: node.metadata.name });
            this.#o.peerKeys?.onNodeDeleted(node);
            this.#queueReclaim();
          } else {
            if (!this.#nodes.has(node.metadata.name)) {
              this.#log.info("node added", { node: node.metadata.name });
            }
            this.#nodes.set(node.metadata.name, node);
          }
          this.#o.peerKeys?.onNodes([...this.#nodes.values()]);
          this.#emitTargets();
        }
      } catch (e) {
        if (this.#signal.aborted) return;
        if (isGone(e)) {
          this.#log.info("node watch expired; listing again");
          rv = undefined;
          continue;
        }
        // Keep the nodes (and so the peers) we have: the API server being away says nothing
        // about the nodes.
        const delay = this.#tasks.backoff(failures++);
        this.#log.warn("Kubernetes API unavailable; keeping current peers, retrying", {
          error: describeCause(e),
          retryInMs: delay,
        });
        await this.#sleep(delay);
      }
    }
  }

  // --- reclaim ---------------------------------------------------------------------------------

  async #resync(): Promise<void> {
    while (!this.#signal.aborted) {
      await this.#sleep(this.#t.resyncMs);
      this.#queueReclaim();
    }
  }

  /** One pass at a time; a request during a pass runs another pass after it. */
  #queueReclaim(): void {
    if (this.#signal.aborted) return;
    if (this.#reclaiming) {
      this.#reclaimQueued = true;
      return;
    }
    this.#reclaiming = (async () => {
      try {
        do {
          this.#reclaimQueued = false;
          await this.#sleep(Math.random() * this.#t.reclaimJitterMs);
          await this.#reclaimPass();
          this.#reclaimFailures = 0;
        } while (this.#reclaimQueued && !this.#signal.aborted);
      } catch (e) {
        if (!(e instanceof Stopped)) {
          const delay = this.#tasks.backoff(this.#reclaimFailures++);
          this.#log.warn("reclaim pass failed; will retry", {
            error: describeCause(e),
            retryInMs: delay,
          });
          this.#tasks.timer(() => this.#queueReclaim(), delay);
        }
      } finally {
        this.#reclaiming = undefined;
      }
    })();
  }

  async #reclaimPass(): Promise<void> {
    const live = new Set(this.#nodes.keys());
    const cm = await this.#o.client.getConfigMap(CONFIGMAP_NAMESPACE, CONFIGMAP_NAME, this.#signal);
    if (!peerList(cm).some((p) => p.peerName === this.#self.peerName)) {
      // Another peer reclaimed this one (its node object was deleted while it ran): its IP
      // ownership is no longer its own. Only a restart can start fresh safely.
      this.#log.error(
        "this peer was removed from the peer list by another peer; restart the weavets pod on " +
          "this node so that it starts fresh",
        { ...this.#self },
      );
    }
    for (const dead of deadPeers(cm, live, this.#self)) {
      if (this.#signal.aborted) return;
      await this.#reclaim(dead, live);
    }
  }

  async #reclaim(dead: PeerRecord, live: ReadonlySet<string>): Promise<void> {
    for (;;) {
      const cm = await this.#o.client.getConfigMap(
        CONFIGMAP_NAMESPACE,
        CONFIGMAP_NAME,
        this.#signal,
      );
      const c = claim(cm, dead, this.#self.peerName, live, Date.now());
      if (c.kind === "gone") return;
      if (c.kind === "held") {
        this.#log.info("dead peer being reclaimed by another peer", { ...dead, holder: c.holder });
        return;
      }
      try {
        await this.#o.client.updateConfigMap(c.cm, this.#signal);
        break;
      } catch (e) {
        if (!isConflict(e)) throw e;
        this.#log.debug("peer list changed meanwhile; retrying", {
          op: "lock",
          peer: dead.peerName,
        });
      }
    }
    this.#log.info("reclaiming addresses of dead peer", { ...dead });
    let ips: number;
    try {
      ips = await this.#o.rmpeer(dead.peerName);
    } catch (e) {
      this.#log.error("rmpeer failed; releasing the lock", { ...dead, error: describeCause(e) });
      await this.#casLoop((cm) => releaseClaim(cm, dead, this.#self.peerName));
      throw e;
    }
    this.#log.info("dead peer reclaimed", { ...dead, ips });
    await this.#casLoop((cm) => completeReclaim(cm, dead));
  }

  /** Read-modify-write of the ConfigMap until no 409 (`edit` returning null: nothing to do). */
  async #casLoop(edit: (cm: ConfigMap) => ConfigMap | null): Promise<void> {
    for (;;) {
      const next = edit(await this.#getConfigMap());
      if (!next) return;
      try {
        await this.#updateConfigMap(next);
        return;
      } catch (e) {
        if (!isConflict(e)) throw e;
      }
    }
  }

  // --- node condition --------------------------------------------------------------------------

  async #markReady(): Promise<void> {
    while (!this.#o.networkReady()) await this.#sleep(this.#t.readyPollMs);
    const now = new Date().toISOString();
    const patch = {
      status: {
        conditions: [{
          type: "NetworkUnavailable",
          status: "False",
          reason: READY_REASON,
          message: "weavets is running on this node",
          lastTransitionTime: now,
          lastHeartbeatTime: now,
        }],
      },
    };
    await this.#retrying(
      "set node condition",
      () => this.#o.client.patchNodeStatus(this.#self.nodeName, patch, this.#signal),
    );
    this.#log.info("node condition set", {
      node: this.#self.nodeName,
      condition: "NetworkUnavailable=False",
      reason: READY_REASON,
    });
  }

  // --- helpers ---------------------------------------------------------------------------------

  #getConfigMap(): Promise<ConfigMap> {
    return this.#retrying(
      "read peer list",
      () => this.#o.client.getConfigMap(CONFIGMAP_NAMESPACE, CONFIGMAP_NAME, this.#signal),
    );
  }

  /** Conflicts are the caller's to handle; other errors are retried with backoff. */
  #updateConfigMap(cm: ConfigMap): Promise<unknown> {
    return this.#retrying(
      "write peer list",
      () => this.#o.client.updateConfigMap(cm, this.#signal),
      isConflict,
    );
  }

  /** Runs `fn` until it succeeds, backing off on errors, logging each; stops on stop(). */
  #retrying<T>(
    what: string,
    fn: () => Promise<T>,
    passThrough?: (e: unknown) => boolean,
  ): Promise<T> {
    return this.#tasks.retrying(fn, (e, retryInMs) => {
      const fields = { error: describeCause(e), retryInMs };
      if (e instanceof KubeApiError && e.status === 404) {
        this.#log.error(
          `${what}: ConfigMap ${CONFIGMAP_NAMESPACE}/${CONFIGMAP_NAME} missing; apply ` +
            "deploy/weavets.yaml again",
          fields,
        );
      } else this.#log.warn(`${what} failed; retrying`, fields);
    }, passThrough);
  }

  #sleep(ms: number): Promise<void> {
    return this.#tasks.sleep(ms);
  }
}
