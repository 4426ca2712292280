/**
 * The input allow-list as a daemon component (it satisfies net/daemon/component.ts structurally):
 * keeps the `inet weavets_input` table (node/allowlist.ts says what it holds and why) in step with
 * the topology and the peers' records. The table is written whole at start, then only its set
 * changes, one transaction per change (a peer coming or going never opens a window); it is
 * removed when the daemon stops. The kernel's counters of refused packets are the metric
 * `weavets_input_refused_packets_total{port}`, shown by `weavets status` and logged at most once a
 * minute while they grow.
 *
 * I/O is the injected `nft` (libnftables in the daemon's namespace); every decision is in
 * allowlist.ts, so this runs in unit tests against a fake kernel.
 */
import { describeCause } from "../../cause.ts";
import type { ApiRoute } from "../../api/route.ts";
import type { Registry } from "../../api/metrics.ts";
import type { MeshView, PeerName } from "../../mesh/gossip_channel.ts";
import type { StatusSection } from "../../mesh/status_text.ts";
import type { Logger } from "../../log.ts";
import {
  allowedSources,
  deleteScript,
  INPUT_TABLE,
  inputScript,
  parseRefused,
  parseRuleCount,
  parseSetElements,
  type RefusedPort,
  ruleCount,
  updateScript,
} from "./allowlist.ts";

export interface InputFilterOptions {
  sleevePort: number;
  fastdpPort: number;
  /** The API's TCP port to keep local (allowlist.ts apiRulePort), or null. */
  apiPort: number | null;
  /** The data plane's peer records (where each peer sends from). */
  records: () => ReadonlyArray<{ peer: PeerName; addr: string }>;
  log: Logger;
  /** Runs an nft script (net/linux/nftables.ts runNft); throws when refused. */
  nft: (script: string, opts?: { json?: boolean }) => string;
  now?: () => number;
  /**
   * Where the kernel's fast path sends now (the VXLAN FDB's destinations): after a clean stop
   * removed the table, the previous run's peers, kept like its set for the grace period so the
   * pods' traffic the kernel carries across a restart is not cut while gossip catches up.
   */
  kernelPeers?: () => string[];
  /** After a restart, how long the previous run's addresses are kept (default 30 s). */
  graceMs?: number;
  /** How often the kernel's table is checked and counters read (default 10 s). */
  checkMs?: number;
  /** At most one "refused" log line per this period (default 60 s). */
  logEveryMs?: number;
}

export interface InputFilter {
  readonly name: "input-filter";
  start(mesh: MeshView): void;
  stop(): void;
  ready(): string | null;
  routes(): ApiRoute[];
  metrics(registry: Registry): void;
  status(): StatusSection;
  report(): InputFilterReport;
  /** Recomputes the set now (the data plane calls it when peer records change). */
  changed(): void;
  /** The periodic check, exposed for tests: table still there, counters, log line. */
  check(): void;
}

export interface InputFilterReport {
  allowed: string[];
  refused: Record<RefusedPort, number>;
  apiPort: number | null;
  error: string | null;
}

const ZERO = (): Record<RefusedPort, number> => ({ sleeve: 0, fastdp: 0, api: 0 });

export function createInputFilter(o: InputFilterOptions): InputFilter {
  const now = o.now ?? Date.now;
  const graceMs = o.graceMs ?? 30_000;
  const rules = (allowed: readonly string[]) =>
    inputScript({
      sleevePort: o.sleevePort,
      fastdpPort: o.fastdpPort,
      apiPort: o.apiPort,
      allowed,
    });
  let mesh: MeshView | undefined;
  let adopted: string[] = [];
  let startedAt = 0;
  /** What the kernel's set holds (as last written); undefined: the table is not installed. */
  let applied: string[] | undefined;
  let error: string | null = null;
  /** Counts from tables this run replaced (a re-created table's counters start at zero). */
  const base = ZERO();
  let lastRead = ZERO();
  let logged = ZERO();
  let lastLog = -Infinity;
  const timers: ReturnType<typeof setTimeout>[] = [];
  let unsubscribe: (() => void) | undefined;

  function desired(): string[] {
    const m = mesh!;
    return allowedSources({
      self: m.self,
      topology: new Set(m.peers().map((p) => p.name)),
      records: o.records(),
      adopted,
      graceOver: now() - startedAt >= graceMs,
    });
  }

  function fail(what: string, e: unknown): void {
    const msg = `${what}: ${describeCause(e)}`;
    if (msg !== error) {
      o.log.error("input allow-list: " + what, {
        error: describeCause(e),
        hint: "check that nftables (libnftables.so.1) works on the node: nft list ruleset",
      });
    }
    error = msg;
  }

  /** Brings the kernel to the desired set: an update of the set, or the whole table. */
  function sync(): void {
    if (!mesh) return;
    const want = desired();
    try {
      if (applied === undefined) {
        o.nft(rules(want));
      } else {
        const script = updateScript(applied, want);
        if (script === "") {
          error = null;
          return;
        }
        try {
          o.nft(script);
        } catch {
          // The set is not what this run wrote (changed by hand, or the table is gone): write the
          // whole table again, keeping the counts read so far.
          addBase();
          o.nft(rules(want));
        }
      }
      if (applied !== undefined && applied.join() !== want.join()) {
        o.log.info("input allow-list updated", { peers: want.length });
      }
      applied = want;
      error = null;
    } catch (e) {
      if (applied !== undefined) addBase(); // the next attempt writes the whole table again
      applied = undefined;
      fail("cannot install the rules", e);
    }
  }

  /** Before the table is written again: what its counters hold now goes into the base. */
  function addBase(): void {
    try {
      lastRead = parseRefused(o.nft(`list table inet ${INPUT_TABLE}`, { json: true }));
    } catch {
      // gone with the table: the last counts read are what there is
    }
    for (const k of Object.keys(base) as RefusedPort[]) base[k] += lastRead[k];
    lastRead = ZERO();
  }

  /**
   * `list table`, not `list counters table`: for the latter libnftables 1.0.6 fetches every
   * table's set elements first (with the NetworkPolicy benchmark's 21,000: ~240 ms of the main
   * thread and ~15 MB left in malloc's arena, every check); `list table` fetches this table only.
   */
  function readCounters(): Record<RefusedPort, number> {
    if (applied !== undefined) {
      try {
        lastRead = parseRefused(o.nft(`list table inet ${INPUT_TABLE}`, { json: true }));
      } catch {
        // table gone: check() writes it again; keep the last counts
      }
    }
    const out = ZERO();
    for (const k of Object.keys(out) as RefusedPort[]) out[k] = base[k] + lastRead[k];
    return out;
  }

  function check(): void {
    if (!mesh) return;
    // The table removed or its rules flushed from outside (nft flush ruleset, another tool):
    // written again; elements changed by hand: put back.
    if (applied !== undefined) {
      try {
        const table = o.nft(`list table inet ${INPUT_TABLE}`, { json: true });
        if (parseRuleCount(table) !== ruleCount(o)) {
          o.log.warn(
            "input allow-list: its rules were changed from outside; writing them again",
            {},
          );
          addBase();
          applied = undefined;
        } else {
          const inKernel = parseSetElements(table);
          if (inKernel.join() !== applied.join()) applied = inKernel;
        }
      } catch {
        o.log.warn("input allow-list: the table was removed from outside; writing it again", {});
        addBase();
        applied = undefined;
      }
    }
    sync();
    const counts = readCounters();
    const t = now();
    const grew = (Object.keys(counts) as RefusedPort[]).some((k) => counts[k] > logged[k]);
    if (grew && t - lastLog >= (o.logEveryMs ?? 60_000)) {
      const delta = ZERO();
      for (const k of Object.keys(delta) as RefusedPort[]) delta[k] = counts[k] - logged[k];
      o.log.warn("input allow-list refused packets from non-peers", {
        ...delta,
        hint: "sources that are not peers sent to the data ports (or to the API port from " +
          "off the node); tcpdump on the underlay shows who",
      });
      logged = counts;
      lastLog = t;
    }
  }

  function report(): InputFilterReport {
    return { allowed: applied ?? [], refused: readCounters(), apiPort: o.apiPort, error };
  }

  return {
    name: "input-filter",
    start(m: MeshView): void {
      mesh = m;
      startedAt = now();
      adopted = [];
      try {
        adopted.push(...parseSetElements(
          o.nft(`list set inet ${INPUT_TABLE} peers`, { json: true }),
        ));
      } catch {
        // no table: a first start, or a clean stop before
      }
      try {
        adopted.push(...(o.kernelPeers?.() ?? []));
      } catch {
        // no VXLAN device (first start, or the fast path off): nothing the kernel carries
      }
      sync();
      if (error !== null) {
        mesh = undefined;
        throw new Error(
          `input allow-list (UDP ${o.sleevePort}/${o.fastdpPort} from peers only): ${error}`,
        );
      }
      o.log.info("input allow-list installed", {
        peers: applied!.length,
        adoptedFromPreviousRun: adopted.length,
        apiPortLocalOnly: o.apiPort,
      });
      unsubscribe = m.onChange(sync);
      timers.push(setInterval(check, o.checkMs ?? 10_000));
      // The previous run's addresses go once the grace is over (unless a record names them).
      if (adopted.length) timers.push(setTimeout(sync, graceMs));
    },
    stop(): void {
      for (const t of timers.splice(0)) clearTimeout(t);
      unsubscribe?.();
      if (!mesh) return;
      mesh = undefined;
      try {
        o.nft(deleteScript());
        applied = undefined;
      } catch (e) {
        o.log.warn("input allow-list: cannot remove the table", {
          error: describeCause(e),
          hint: `nft delete table inet ${INPUT_TABLE}`,
        });
      }
    },
    ready: () => error === null ? null : `input allow-list: ${error}`,
    routes: () => [],
    metrics(registry: Registry): void {
      registry.counterFn(
        "weavets_input_refused_packets_total",
        "Packets the input allow-list dropped: UDP to the sleeve or fast-path port from a " +
          "non-peer, TCP to the local API port from off the node.",
        () => {
          const c = readCounters();
          return (Object.keys(c) as RefusedPort[]).map((port) => ({
            labels: { port },
            value: c[port],
          }));
        },
      );
      registry.gaugeFn(
        "weavets_input_allowed_peers",
        "Peer underlay addresses allowed to send to the data ports.",
        () => [{ value: applied?.length ?? 0 }],
      );
    },
    status(): StatusSection {
      const r = report();
      return {
        service: "input-filter",
        fields: [
          [
            "Allow-list",
            error !== null
              ? `NOT INSTALLED (${error})`
              : `UDP ${o.sleevePort}/${o.fastdpPort} from ${r.allowed.length} peer address(es) only`,
          ],
          [
            "Refused",
            `sleeve ${r.refused.sleeve}, fastdp ${r.refused.fastdp}, api ${r.refused.api}`,
          ],
          [
            "API port",
            o.apiPort === null
              ? "no rule (Unix socket, or --http-addr not on loopback)"
              : `TCP ${o.apiPort} from this node only`,
          ],
        ],
      };
    },
    report,
    changed: sync,
    check,
  };
}
