/**
 * The `npc` daemon component: NetworkPolicy enforcement on this node. It watches Namespaces, Pods
 * (of every node: policies select peers anywhere) and NetworkPolicies (net/kube/watch.ts), keeps
 * them in the engine (engine.ts), and after each burst of changes compiles and applies the
 * difference to the kernel as one nftables transaction (ruleset.ts). Until the first list of all
 * three is in, the kernel keeps whatever a previous run loaded (a restart never opens a window);
 * then one transaction replaces it. Stopping leaves the rules in place.
 *
 * The CNI server calls podAdded before answering an ADD, so a pod's address is bound (and its
 * rules loaded) before the pod can send: until then an address of this node's ranges that no pod
 * holds is dropped both ways. Blocked packets are counted by nftables and logged from NFLOG.
 */
import { parseIPv4 } from "../addr/mod.ts";
import { describeCause } from "../cause.ts";
import type { Metric, Registry } from "../api/metrics.ts";
import { type ApiRoute, jsonResponse, textResponse, wantsJson } from "../api/route.ts";
import type { DaemonComponent } from "../daemon/component.ts";
import type { KubeClient } from "../kube/client.ts";
import { type NflogSocket, openNflog } from "../linux/nflog.ts";
import { releaseMemory } from "../linux/memory.ts";
import { runNft } from "../linux/nftables.ts";
import { NFPROTO_INET, readNftCounters } from "../linux/nft_counters.ts";
import { readSysctl, writeSysctl } from "../linux/sysctl.ts";
import { sctpAvailable } from "../linux/sctp.ts";
import type { Logger } from "../log.ts";
import { describeBlocked } from "./blocked.ts";
import { TooManyClassesError } from "./classes.ts";
import type { Elements } from "./elements.ts";
import { PolicyEngine } from "./engine.ts";
import { COUNTERS, diffScript, fullScript, NFLOG_GROUP, TABLE } from "./ruleset.ts";
import { formatNpc, type NpcCounters, npcReport, npcSection } from "./status.ts";
import type { Protocol } from "./types.ts";
import { checkConnection } from "./check.ts";
import { COLLECTIONS, watchCluster } from "./watches.ts";

export interface NpcOptions {
  /** This node's name (NODE_NAME). */
  node: string;
  /** The API client (shared with the kube component). */
  client: () => KubeClient;
  /** This node's pod address ranges from IPAM, "first-last". */
  localRanges: () => string[];
  log: Logger;
}

export interface PodAttached {
  containerId: string;
  namespace?: string;
  name?: string;
  ips: string[];
}

export interface NpcComponent extends DaemonComponent {
  /** A pod attached by this node's CNI server: binds its addresses; resolves once enforced. */
  podAdded(p: PodAttached): Promise<void>;
  /** A pod detached: its addresses are closed again. */
  podDeleted(containerId: string): void;
}

/** Changes arriving within this window are applied together. */
const COALESCE_MS = 5;
const RETRY_MS = 1000;
const RANGES_POLL_MS = 1000;
const COUNTERS_POLL_MS = 5000;
const NFLOG_POLL_MS = 200;
/** How long an ADD waits for the first sync before it lets the pod go (closed if its node's). */
const ADD_WAIT_MS = 5000;
const LATENCY_SAMPLES = 1000;
/** Quiet time after the last apply before unused memory is given back, and the slack worth it. */
const SETTLE_MS = 5000;
const SETTLE_SLACK_BYTES = 8 * 1024 * 1024;

export function createNpc(opts: NpcOptions): NpcComponent {
  const log = opts.log;
  const engine = new PolicyEngine({
    node: opts.node,
    supported: (p: Protocol) => p !== "SCTP" || sctp,
  });
  let sctp = false;
  const abort = new AbortController();
  const timers = new Set<ReturnType<typeof setInterval>>();
  const waiting = new Set<string>(COLLECTIONS);
  const counters: NpcCounters = {
    syncedAt: null,
    waitingFor: [...waiting],
    lastApplyMs: 0,
    fullLoadMs: 0,
    lastChangeElements: 0,
    applies: 0,
    errors: 0,
    blocked: {},
    latencies: [],
  };
  let elements: Elements | undefined;
  let flushTimer: ReturnType<typeof setTimeout> | undefined;
  let settleTimer: ReturnType<typeof setTimeout> | undefined;
  /** When the oldest change not yet in the kernel arrived. */
  let firstPending: number | undefined;
  let waiters: Array<() => void> = [];
  let syncedWaiters: Array<() => void> = [];
  let bridgeProblem: string | null = null;
  let nflog: NflogSocket | undefined;
  let errorsMetric: Metric | undefined;
  let blockedMetric: Metric | undefined;

  const error = (reason: string, message: string, fields: Record<string, unknown>) => {
    counters.errors++;
    errorsMetric?.inc({ reason });
    log.error(message, fields);
  };

  function changed(): void {
    firstPending ??= performance.now();
    if (counters.syncedAt === null || flushTimer !== undefined) return;
    flushTimer = setTimeout(flush, COALESCE_MS);
  }

  /**
   * Once the policies have been quiet for a while after work (a full load, a burst of watch events
   * and changes), give the garbage back: V8 and glibc otherwise keep the process at its peak for
   * good (net/linux/memory.ts). Only when the heap holds much more than it uses.
   */
  function settleMemory(): void {
    clearTimeout(settleTimer);
    settleTimer = setTimeout(() => {
      const m = Deno.memoryUsage();
      if (m.heapTotal - m.heapUsed > SETTLE_SLACK_BYTES) releaseMemory();
    }, SETTLE_MS);
  }

  function flush(): void {
    flushTimer = undefined;
    if (counters.syncedAt === null || abort.signal.aborted) return;
    const since = firstPending;
    firstPending = undefined;
    const t0 = performance.now();
    const done = waiters;
    waiters = [];
    try {
      engine.setLocalRanges(ranges());
      const c = engine.commit();
      const script = c.diff ? diffScript(c.diff) : fullScript(c.elements);
      if (script !== "") runNft(script);
      elements = c.elements;
      counters.applies++;
      counters.lastApplyMs = Math.round(performance.now() - t0);
      if (!c.diff) counters.fullLoadMs = counters.lastApplyMs;
      counters.lastChangeElements = c.diff?.count ?? -1;
      // A change's delay; the first load after listing is not one.
      if (since !== undefined && c.diff) {
        counters.latencies.push(Math.round(performance.now() - since));
        if (counters.latencies.length > LATENCY_SAMPLES) counters.latencies.shift();
      }
      const fields = { ms: counters.lastApplyMs, elements: c.diff?.count ?? "all" };
      if (c.diff) log.debug("policy change applied", fields);
      else log.info("policies loaded", { ...fields, pods: c.state.local.length });
      settleMemory();
    } catch (e) {
      engine.reset(); // the next attempt loads everything again
      const reason = e instanceof TooManyClassesError ? "too_many_classes" : "apply";
      error(reason, "cannot apply the network policies; retrying", { error: describeCause(e) });
      firstPending = since;
      if (!abort.signal.aborted) {
        flushTimer = setTimeout(flush, RETRY_MS);
      }
    } finally {
      for (const w of done) w();
    }
  }

  function ranges() {
    return opts.localRanges().map((r) => {
      const [lo, hi] = r.split("-");
      return { lo: parseIPv4(lo), hi: parseIPv4(hi ?? lo) };
    });
  }

  function synced(): void {
    counters.syncedAt = Date.now();
    log.info("first list of pods, namespaces and policies in: enforcing", {
      pods: engine.model.pods.size,
      policies: engine.model.policies.size,
    });
    for (const w of syncedWaiters) w();
    syncedWaiters = [];
    changed();
  }

  function every(ms: number, fn: () => void): void {
    timers.add(setInterval(() => {
      try {
        fn();
      } catch (e) {
        log.warn("npc background task failed", { error: describeCause(e) });
      }
    }, ms));
  }

  /**
   * The blocked counters, straight from the kernel (not through libnftables, which would fetch
   * every set element first: net/linux/nft_counters.ts). False when the table is gone.
   */
  function readCounters(): boolean {
    const read = readNftCounters(NFPROTO_INET, TABLE);
    for (const name of COUNTERS) {
      const c = read.get(name);
      if (!c) return false;
      const dir = name.replace("blocked_", "");
      counters.blocked[dir] = c.packets;
      blockedMetric?.set(c.packets, { direction: dir });
    }
    return true;
  }

  function logBlocked(): void {
    for (const p of nflog?.receive() ?? []) {
      const b = describeBlocked(p.prefix, p.payload, engine.model, engine.state);
      if (b) log.info("connection blocked by network policy", { ...b });
    }
  }

  function report() {
    if (counters.syncedAt !== null) {
      try {
        readCounters();
      } catch (e) {
        log.debug("cannot read the npc counters", { error: describeCause(e) });
      }
    }
    return npcReport(engine.model, engine.state, elements, counters, Date.now());
  }

  return {
    name: "npc",

    metrics(registry: Registry) {
      blockedMetric = registry.counter(
        "weavets_npc_blocked_connections_total",
        "New connections' packets dropped by NetworkPolicy, by direction (ingress, egress, " +
          "unbound: an address of this node no pod holds); a retried connection counts again.",
      );
      errorsMetric = registry.counter(
        "weavets_npc_policy_enforcement_errors_total",
        "Policies or changes that could not be enforced as given, by reason (apply, " +
          "invalid_object, invalid_policy, too_many_classes).",
      );
      registry.gaugeFn("weavets_npc_policed_pods", "Pods of this node some policy selects.", () => {
        const r = report();
        return [
          { labels: { direction: "ingress" }, value: r.policed.ingress },
          { labels: { direction: "egress" }, value: r.policed.egress },
        ];
      });
      registry.gaugeFn("weavets_npc_set_elements", "nftables set elements loaded.", () => [{
        value: [...(elements ?? new Map()).values()].reduce((n, s) => n + s.size, 0),
      }]);
    },

    start() {
      bridgeProblem = enableBridgeFiltering();
      if (bridgeProblem) {
        log.error("pod traffic on the bridge cannot be policed", { why: bridgeProblem });
      }
      sctp = sctpAvailable();
      if (!sctp) {
        log.info("this kernel has no SCTP: SCTP ports in policies allow nothing (each named)", {});
      }
      try {
        nflog = openNflog(NFLOG_GROUP);
      } catch (e) {
        log.warn("blocked connections are counted but not logged (NFLOG unavailable)", {
          group: NFLOG_GROUP,
          error: describeCause(e),
        });
      }
      watchCluster({
        client: opts.client(),
        log,
        sctp,
        signal: abort.signal,
        model: engine.model,
        changed,
        synced: (name) => {
          if (waiting.delete(name)) {
            counters.waitingFor = [...waiting];
            if (waiting.size === 0) synced();
          }
        },
        error,
      });
      every(RANGES_POLL_MS, () => {
        if (counters.syncedAt !== null && engine.setLocalRanges(ranges())) changed();
      });
      // Also the canary (as Weave's WEAVE-CANARY chain): a table someone removed is loaded again.
      every(COUNTERS_POLL_MS, () => {
        if (counters.syncedAt === null || flushTimer !== undefined) return;
        if (readCounters()) return;
        error("apply", "the network policy rules are gone from the kernel: loading them again", {
          table: `inet ${TABLE}`,
        });
        engine.reset();
        changed();
      });
      if (nflog) every(NFLOG_POLL_MS, logBlocked);
    },

    async stop() {
      abort.abort();
      clearTimeout(flushTimer);
      clearTimeout(settleTimer);
      for (const t of timers) clearInterval(t);
      nflog?.close();
      for (const w of [...waiters, ...syncedWaiters]) w();
      await Promise.resolve();
    },

    ready() {
      if (bridgeProblem) return bridgeProblem;
      if (counters.syncedAt === null) return report().status;
      return null;
    },

    async podAdded(p: PodAttached) {
      if (!p.namespace || !p.name) {
        log.warn("pod attached without K8S_POD_NAMESPACE/K8S_POD_NAME: it stays closed", {
          containerId: p.containerId,
        });
        return;
      }
      for (const ip of p.ips) {
        engine.model.bind(parseIPv4(ip), {
          namespace: p.namespace,
          name: p.name,
          containerId: p.containerId,
        });
      }
      if (counters.syncedAt === null) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await new Promise<void>((resolve) => {
          syncedWaiters.push(resolve);
          timer = setTimeout(resolve, ADD_WAIT_MS);
        });
        clearTimeout(timer);
      }
      if (counters.syncedAt === null) return;
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        changed();
      });
    },

    podDeleted(containerId: string) {
      if (engine.model.unbindContainer(containerId).length > 0) changed();
    },

    status: () => npcSection(report()),
    report,

    routes(): ApiRoute[] {
      return [
        // Both name pods and policies, like the allocation table: root only.
        {
          method: "GET",
          path: "/status/npc",
          access: "root",
          handle: (req) => {
            const r = report();
            return wantsJson(req) ? jsonResponse(r) : textResponse(formatNpc(r));
          },
        },
        {
          method: "GET",
          path: "/npc/check",
          access: "root",
          handle: (req) => checkConnection(engine, req, counters.syncedAt !== null),
        },
      ];
    },
  };
}

/**
 * br_netfilter with bridge-nf-call-iptables=1 (per network namespace) is what puts frames bridged
 * between pods through the inet forward hook. Null when on; otherwise what to do.
 */
function enableBridgeFiltering(): string | null {
  const key = "net/bridge/bridge-nf-call-iptables";
  try {
    if (readSysctl(key).trim() !== "1") writeSysctl(key, "1");
    return null;
  } catch (e) {
    return `bridge netfilter is unavailable (${describeCause(e)}): run ` +
      "'modprobe br_netfilter' on the node";
  }
}
