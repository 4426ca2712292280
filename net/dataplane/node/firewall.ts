/**
 * Pod traffic through the host's forward firewall (issue 17). Docker and ufw set the iptables
 * FORWARD policy to DROP; with br_netfilter on, even frames between two pods on one bridge cross
 * that chain, so all pod traffic dies unless something accepts it (Weave inserted `-i weave`
 * accept rules for this). In nftables every base chain on the forward hook must accept a packet
 * for it to pass: an accept in a table of our own does not override another table's drop. So:
 * - every foreign base chain on the forward hook (ip and inet families; this includes the
 *   iptables FORWARD chain that iptables-nft keeps in `table ip filter`) gets two rules at its
 *   top, `iifname BRIDGE accept` and `oifname BRIDGE accept`, marked with the comment
 *   FORWARD_MARK (iptables-nft shows them as `-m comment --comment weavets-forward`);
 * - the legacy iptables FORWARD chain, when x_tables' filter table is in use, gets the same two
 *   rules through `iptables-legacy`;
 * - weavets' own `inet weavets_forward` table holds the same accepts with counters: the packets
 *   counted there are the pod traffic the host forwards (shown in the report), and it is the
 *   canary a periodic check looks for.
 * Tables named weavets* (the policy controller's among them) are never touched: an accept at the
 * top of the policy chain would bypass NetworkPolicies.
 *
 * The rules stay when the daemon stops (like the bridge and the VXLAN device, so a restart does not
 * cut pods off on a FORWARD-DROP host) and are removed by `weavets reset` (removeForwardScript).
 * Everything here is pure over what nft lists; node/forward_filter.ts runs it.
 */
import { z } from "zod";

export const FORWARD_MARK = "weavets-forward";
export const FORWARD_TABLE = "weavets_forward";

const chainSchema = z.object({
  family: z.string(),
  table: z.string(),
  name: z.string(),
  hook: z.string().optional(),
  policy: z.string().optional(),
});
const ruleSchema = z.object({
  family: z.string(),
  table: z.string(),
  chain: z.string(),
  handle: z.number().int(),
  comment: z.string().optional(),
});
const listing = z.object({ nftables: z.array(z.record(z.string(), z.unknown())) });

export interface Chain {
  family: string;
  table: string;
  name: string;
}

export interface MarkedRule extends Chain {
  handle: number;
}

export interface Ruleset {
  /** Base chains on the forward hook, in ip and inet tables that are not weavets'. */
  forwardChains: Chain[];
  /** Rules carrying FORWARD_MARK, wherever they are. */
  marked: MarkedRule[];
  /** Whether our own table exists. */
  ownTable: boolean;
}

/** nft names the script can carry unquoted; anything else is skipped (and reported). */
const SAFE_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,255}$/;

/**
 * What matters in `nft -j list ruleset` (pure). Entries that do not fit the schema are skipped:
 * a foreign table we cannot read is one we leave alone.
 */
export function parseRuleset(json: string): Ruleset {
  const parsed = listing.safeParse(JSON.parse(json));
  const out: Ruleset = { forwardChains: [], marked: [], ownTable: false };
  if (!parsed.success) return out;
  for (const item of parsed.data.nftables) {
    if ("table" in item) {
      const t = z.object({ family: z.string(), name: z.string() }).safeParse(item.table);
      if (t.success && t.data.family === "inet" && t.data.name === FORWARD_TABLE) {
        out.ownTable = true;
      }
    } else if ("chain" in item) {
      const c = chainSchema.safeParse(item.chain);
      if (!c.success || c.data.hook !== "forward") continue;
      if (c.data.family === "inet" && c.data.table === FORWARD_TABLE) out.ownTable = true;
      if (c.data.family !== "ip" && c.data.family !== "inet") continue;
      if (c.data.table.startsWith("weavets")) continue;
      out.forwardChains.push({ family: c.data.family, table: c.data.table, name: c.data.name });
    } else if ("rule" in item) {
      const r = ruleSchema.safeParse(item.rule);
      if (r.success && r.data.comment === FORWARD_MARK) {
        const { family, table, chain, handle } = r.data;
        out.marked.push({ family, table, name: chain, handle });
      }
    }
  }
  return out;
}

const same = (a: Chain, b: Chain) =>
  a.family === b.family && a.table === b.table && a.name === b.name;

export interface ForwardPlan {
  /** The nft script (one transaction), or "" when everything is in place. */
  script: string;
  /** Chains that got (or get) our accepts. */
  chains: Chain[];
  /** Chains skipped because their names cannot be written safely. */
  skipped: Chain[];
}

function ownTableScript(bridge: string): string[] {
  return [
    `add table inet ${FORWARD_TABLE}`,
    `delete table inet ${FORWARD_TABLE}`,
    `table inet ${FORWARD_TABLE} {`,
    `  chain forward {`,
    `    type filter hook forward priority filter; policy accept;`,
    `    iifname "${bridge}" counter accept comment "${FORWARD_MARK}"`,
    `    oifname "${bridge}" counter accept comment "${FORWARD_MARK}"`,
    `  }`,
    `}`,
  ];
}

/**
 * The accepts for `bridge` in every foreign forward chain and our own table (pure). A chain that
 * already has exactly our two marked rules is left as it is; one with another number (a rule
 * deleted from outside, a duplicate) has ours replaced.
 */
export function planForward(r: Ruleset, bridge: string): ForwardPlan {
  if (!SAFE_NAME.test(bridge)) throw new Error(`bridge name "${bridge}" cannot go in an nft rule`);
  const lines: string[] = [];
  const chains: Chain[] = [];
  const skipped: Chain[] = [];
  for (const c of r.forwardChains) {
    if (!SAFE_NAME.test(c.table) || !SAFE_NAME.test(c.name)) {
      skipped.push(c);
      continue;
    }
    chains.push(c);
    const ours = r.marked.filter((m) => same(m, c));
    if (ours.length === 2) continue;
    for (const m of ours) {
      lines.push(`delete rule ${c.family} ${c.table} ${c.name} handle ${m.handle}`);
    }
    // `insert` puts each at the top: the second ends up first, both above any drop.
    for (const dir of ["oifname", "iifname"]) {
      lines.push(
        `insert rule ${c.family} ${c.table} ${c.name} ${dir} "${bridge}" counter accept comment "${FORWARD_MARK}"`,
      );
    }
  }
  if (!r.ownTable) lines.push(...ownTableScript(bridge));
  return { script: lines.length ? lines.join("\n") + "\n" : "", chains, skipped };
}

/** Removes every marked rule outside our table, and our table (pure); "" when none is there. */
export function removeForwardScript(r: Ruleset): string {
  const lines = r.marked
    .filter((m) => !(m.family === "inet" && m.table === FORWARD_TABLE))
    .map((m) => `delete rule ${m.family} ${m.table} ${m.name} handle ${m.handle}`);
  if (r.ownTable) lines.push(`delete table inet ${FORWARD_TABLE}`);
  return lines.length ? lines.join("\n") + "\n" : "";
}

/** The legacy iptables rules (arguments after -I/-C/-D FORWARD), pure. */
export function legacyRules(bridge: string): string[][] {
  return ["-i", "-o"].map((
    dir,
  ) => [dir, bridge, "-m", "comment", "--comment", FORWARD_MARK, "-j", "ACCEPT"]);
}

/** True when x_tables' filter table is loaded in this namespace (/proc/net/ip_tables_names). */
export function legacyInUse(ipTablesNames: string | null): boolean {
  return ipTablesNames?.split("\n").some((l) => l.trim() === "filter") ?? false;
}

/** Packets and bytes our own table counted (pure, from `nft -j list table inet …`). */
export function parseOwnCounters(json: string): { packets: number; bytes: number } {
  let packets = 0, bytes = 0;
  const p = listing.safeParse(JSON.parse(json));
  if (!p.success) return { packets, bytes };
  for (const item of p.data.nftables) {
    const expr = z.object({ rule: z.object({ expr: z.array(z.unknown()) }) }).safeParse(item);
    if (!expr.success) continue;
    for (const e of expr.data.rule.expr) {
      const c = z.object({ counter: z.object({ packets: z.number(), bytes: z.number() }) })
        .safeParse(e);
      if (c.success) {
        packets += c.data.counter.packets;
        bytes += c.data.counter.bytes;
      }
    }
  }
  return { packets, bytes };
}
