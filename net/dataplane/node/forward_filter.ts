/**
 * Runs node/firewall.ts on the node: lists the forward chains (cheap: `list chains`, then only
 * the forward chains' rules), applies the plan in one nft transaction, adds the legacy iptables
 * rules when x_tables is in use, and checks every `checkMs` that the rules are still there (a
 * firewall reload, `iptables-restore` of the filter table or `nft flush ruleset` removes them:
 * they are put back and that is logged). As a daemon component it applies at start and leaves the
 * rules at stop; `removeForward` (weavets reset) takes them away.
 */
import type { Logger } from "../../log.ts";
import { runNft } from "../../linux/nftables.ts";
import { runCommand } from "../../linux/command.ts";
import { describeCause } from "../../cause.ts";
import type { StatusSection } from "../../mesh/status_text.ts";
import {
  type Chain,
  FORWARD_MARK,
  FORWARD_TABLE,
  legacyInUse,
  legacyRules,
  parseOwnCounters,
  parseRuleset,
  planForward,
  removeForwardScript,
  type Ruleset,
} from "./firewall.ts";

export interface ForwardIo {
  /** libnftables (net/linux/nftables.ts runNft) in the node's namespace. */
  nft(script: string, opts?: { json?: boolean }): string;
  /** /proc/net/ip_tables_names, or null when absent. */
  ipTablesNames(): string | null;
  /** Runs iptables-legacy with these arguments; resolves to its exit code (127: not installed). */
  iptablesLegacy(args: string[]): Promise<{ code: number; stderr: string }>;
}

/** Reads what planForward needs: forward chains, their marked rules, our table. */
export function readRuleset(io: ForwardIo): Ruleset {
  const chains = JSON.parse(io.nft("list chains", { json: true })) as { nftables: unknown[] };
  const items: unknown[] = [...chains.nftables];
  const first = parseRuleset(JSON.stringify({ nftables: items }));
  for (const c of first.forwardChains) {
    try {
      const rules = JSON.parse(
        io.nft(`list chain ${c.family} ${c.table} ${c.name}`, { json: true }),
      );
      // Its rules only: the chain itself is already listed once.
      for (const i of rules.nftables ?? []) {
        if (i && typeof i === "object" && "rule" in i) items.push(i);
      }
    } catch {
      // a name nft cannot parse unquoted, or the chain went away: planForward skips or re-adds
    }
  }
  return parseRuleset(JSON.stringify({ nftables: items }));
}

/** Legacy iptables: the two rules at the top of FORWARD when missing. Returns what it did. */
async function applyLegacy(io: ForwardIo, bridge: string, log: Logger): Promise<string | null> {
  if (!legacyInUse(io.ipTablesNames())) return null;
  let added = 0;
  for (const rule of legacyRules(bridge)) {
    const has = await io.iptablesLegacy(["-w", "5", "-C", "FORWARD", ...rule]);
    if (has.code === 0) continue;
    if (has.code === 127) {
      log.warn(
        "legacy iptables is in use but iptables-legacy is not installed: pod traffic may be " +
          "dropped by its FORWARD chain; install iptables or accept traffic from and to the bridge",
        { bridge },
      );
      return null;
    }
    const r = await io.iptablesLegacy(["-w", "5", "-I", "FORWARD", "1", ...rule]);
    if (r.code !== 0) throw new Error(`iptables-legacy -I FORWARD failed: ${r.stderr.trim()}`);
    added++;
  }
  return added ? `legacy iptables FORWARD: ${added} rule(s) added` : null;
}

export interface ForwardState {
  chains: Chain[];
  skipped: Chain[];
  legacy: boolean;
}

/** Applies the accepts (idempotent): returns where they are and whether anything changed. */
export async function applyForward(
  io: ForwardIo,
  bridge: string,
  log: Logger,
): Promise<ForwardState & { changed: boolean }> {
  const plan = planForward(readRuleset(io), bridge);
  if (plan.script) io.nft(plan.script);
  for (const c of plan.skipped) {
    log.warn(
      "a forward chain's name cannot be written safely: add accept rules for the bridge to it " +
        "yourself if it drops traffic",
      { family: c.family, table: c.table, chain: c.name, bridge },
    );
  }
  const legacy = await applyLegacy(io, bridge, log);
  return {
    chains: plan.chains,
    skipped: plan.skipped,
    legacy: legacyInUse(io.ipTablesNames()),
    changed: plan.script !== "" || legacy !== null,
  };
}

/** Removes every rule weavets marked and its table (nft and legacy). Returns what it removed. */
export async function removeForward(io: ForwardIo, bridge: string): Promise<string[]> {
  const done: string[] = [];
  const r = readRuleset(io);
  const script = removeForwardScript(r);
  if (script) {
    io.nft(script);
    done.push(`nft: ${r.marked.length} ${FORWARD_MARK} rule(s), table inet ${FORWARD_TABLE}`);
  }
  if (legacyInUse(io.ipTablesNames())) {
    for (const rule of legacyRules(bridge)) {
      while ((await io.iptablesLegacy(["-w", "5", "-D", "FORWARD", ...rule])).code === 0) {
        done.push(`legacy iptables: FORWARD ${rule.slice(0, 2).join(" ")} accept`);
      }
    }
  }
  return done;
}

export interface ForwardFilterOptions {
  bridge: string;
  io: ForwardIo;
  log: Logger;
  /** How often the rules are checked (default 10 s, as Weave's canary). */
  checkMs?: number;
  now?: () => number;
}

export interface ForwardFilter {
  readonly name: "forward-filter";
  start(): Promise<void>;
  stop(): void;
  status(): StatusSection;
  report(): unknown;
  /** The periodic check, exposed for tests. */
  check(): Promise<void>;
}

export function createForwardFilter(o: ForwardFilterOptions): ForwardFilter {
  let state: ForwardState = { chains: [], skipped: [], legacy: false };
  let timer: ReturnType<typeof setInterval> | undefined;
  let busy = false;
  // Failed checks: counted in the report, logged at most once a minute.
  let failures = 0;
  let lastWarn = -Infinity;
  const now = o.now ?? (() => Date.now());
  const counters = () => {
    try {
      return parseOwnCounters(o.io.nft(`list table inet ${FORWARD_TABLE}`, { json: true }));
    } catch {
      return null;
    }
  };
  const where = () => [
    ...state.chains.map((c) => `${c.family} ${c.table} ${c.name}`),
    ...(state.legacy ? ["legacy iptables FORWARD"] : []),
  ];
  return {
    name: "forward-filter",
    async start() {
      timer = setInterval(() => void this.check(), o.checkMs ?? 10_000);
      try {
        state = await applyForward(o.io, o.bridge, o.log);
        o.log.info("pod traffic accepted in the host's forward chains", {
          bridge: o.bridge,
          chains: where(),
        });
      } catch (e) {
        // Not fatal: on most hosts forwarding is open anyway, and the check tries again.
        o.log.warn(
          "cannot put the forward accept rules in place yet (pods may be cut off where the " +
            "host's forward policy drops); retrying every check",
          { bridge: o.bridge, error: describeCause(e) },
        );
      }
    },
    async check() {
      if (busy) return;
      busy = true;
      try {
        const r = await applyForward(o.io, o.bridge, o.log);
        state = r;
        if (r.changed) {
          o.log.warn(
            "forward accept rules put in place again: a forward chain appeared (iptables -P " +
              "FORWARD, a firewall started) or our rules were removed (a firewall reload)",
            { bridge: o.bridge, chains: where() },
          );
        }
      } catch (e) {
        failures++;
        if (now() - lastWarn >= 60_000) {
          lastWarn = now();
          o.log.warn("cannot check the forward accept rules; retrying every check", {
            error: describeCause(e),
            failures,
          });
        }
      } finally {
        busy = false;
      }
    },
    stop() {
      clearInterval(timer);
    },
    status(): StatusSection {
      const c = counters();
      return {
        service: "forward",
        fields: [
          ["Accepted in", where().join(", ") || "weavets' own table only"],
          ...(c
            ? [["Forwarded", `${c.packets} packets, ${c.bytes} bytes`] as [string, string]]
            : []),
        ],
      };
    },
    report() {
      return {
        bridge: o.bridge,
        chains: where(),
        skipped: state.skipped,
        counters: counters(),
        failedChecks: failures,
      };
    },
  };
}

/** The node's real I/O: libnftables, /proc, and the iptables-legacy command. */
export function nodeForwardIo(): ForwardIo {
  return {
    nft: runNft,
    ipTablesNames() {
      try {
        return Deno.readTextFileSync("/proc/net/ip_tables_names");
      } catch {
        return null;
      }
    },
    async iptablesLegacy(args) {
      const { code, stderr } = await runCommand("iptables-legacy", args);
      return { code, stderr };
    },
  };
}
