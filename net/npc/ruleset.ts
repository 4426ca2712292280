/**
 * The nftables ruleset that enforces NetworkPolicy on this node, pure text: a fixed skeleton of
 * chains whose every decision is a set lookup, so a change of policies, pods or labels is only
 * a change of set elements (elements.ts), applied as one transaction — never a reload, never a
 * window. verdict.ts evaluates exactly these rules.
 *
 * Where it hooks (table `inet weavets_npc`, chain `forward`, priority filter - 10): with
 * br_netfilter and bridge-nf-call-iptables=1, frames bridged between the pods, the VXLAN device
 * and the TAP of the `weave` bridge pass the inet forward hook, as routed traffic does, with
 * connection tracking. So every packet of a pod of this node — to a pod on the same bridge, to
 * another node over either data path, or routed off the node — passes here once on this node;
 * traffic between the node itself and its pods (input/output, kubelet probes) never does.
 *
 * Per new connection (established and related packets are accepted first):
 * 1. A source or destination in this node's pod ranges that no pod holds (yet) is dropped: a pod
 *    is closed until its address is bound (CNI ADD or the API).
 * 2. Egress, for a source pod some egress policy selects: looked up with the source address,
 *    protocol and port for "any destination"; then the destination's pod class is put in bits
 *    16–31 of the packet mark and looked up with them; then its block class (elements.ts). No
 *    match: dropped. A match returns to `forward` with the mark bits cleared.
 * 3. Ingress, likewise for a destination pod some ingress policy selects, with the source's
 *    class.
 * Other base chains on the forward hook (the host firewall, the data plane's) are independent:
 * an accept here does not exempt a packet from a drop there, and a drop here is final.
 *
 * The mark bits 16–31 are borrowed only on this path and cleared before a packet leaves it, so
 * kube-proxy's bits (14, 15) and others below bit 16 pass through untouched; a tool that set bits
 * 16–31 on new connections to or from policed pods would lose them.
 *
 * Blocked packets are counted (counters blocked_ingress, blocked_egress, blocked_unbound) and
 * logged to NFLOG group 86 (Weave Net's group), at most 20 a second.
 */
import { CLASS_BITS, CLASS_SHIFT, type ElementDiff, type Elements, SETS } from "./elements.ts";

export const TABLE = "weavets_npc";
export const FAMILY_TABLE = `inet ${TABLE}`;
export const NFLOG_GROUP = 86;
export const LOG_PREFIX = "weavets-npc ";
export const COUNTERS = ["blocked_ingress", "blocked_egress", "blocked_unbound"] as const;

const FIELD = `0x${(((1 << CLASS_BITS) - 1) << CLASS_SHIFT >>> 0).toString(16).padStart(8, "0")}`;
const KEEP = `0x${((~((1 << CLASS_BITS) - 1 << CLASS_SHIFT)) >>> 0).toString(16).padStart(8, "0")}`;
const CLEAR = `meta mark set meta mark & ${KEEP}`;

function blockChain(what: string): string[] {
  return [
    CLEAR,
    `counter name "blocked_${what}"`,
    `limit rate 20/second burst 40 packets log group ${NFLOG_GROUP} snaplen 128 prefix "${LOG_PREFIX}${what} "`,
    "drop",
  ];
}

/**
 * Looks up the local pod (`ip`) in the sets of `d`: with every peer, then with the peer's pod
 * class, then with its block class.
 */
function verdictChain(d: "in" | "eg", ip: string, ok: string, block: string): string[] {
  const side = d === "in" ? "src" : "dst";
  const cls = `meta mark & ${FIELD}`;
  const port = "meta l4proto . th dport";
  const byClass = [
    `${ip} . ${cls} @${d}_any goto ${ok}`,
    `${ip} . ${cls} . ${port} @${d}_port goto ${ok}`,
    `${ip} . ${cls} . ${port} @${d}_range goto ${ok}`,
  ];
  return [
    `${ip} . ${port} @${d}_all_port goto ${ok}`,
    `${ip} . ${port} @${d}_all_range goto ${ok}`,
    `jump ${side}_pod_class`,
    ...byClass,
    `jump ${side}_block_class`,
    ...byClass,
    `goto ${block}`,
  ];
}

/** Puts the pod class (pod_bit_N) or block class (block_bit_N) of `addr` in the mark. */
function classChains(side: "src" | "dst", addr: string): Array<[string, string[]]> {
  const bit = (b: number) => `0x${((1 << (b + CLASS_SHIFT)) >>> 0).toString(16).padStart(8, "0")}`;
  const rules = (kind: string) =>
    Array.from(
      { length: CLASS_BITS },
      (_, b) => `${addr} @${kind}_bit_${b} meta mark set meta mark | ${bit(b)}`,
    );
  return [
    [`${side}_pod_class`, [CLEAR, ...rules("pod")]],
    [`${side}_block_class`, [CLEAR, ...rules("block")]],
  ];
}

const CHAINS: Array<[string, string[]]> = [
  ["egress", verdictChain("eg", "ip saddr", "egress_ok", "blocked_egress")],
  ["egress_ok", [CLEAR]],
  ["ingress", verdictChain("in", "ip daddr", "ingress_ok", "blocked_ingress")],
  ["ingress_ok", [CLEAR, "accept"]],
  ...classChains("dst", "ip daddr"),
  ...classChains("src", "ip saddr"),
  ["blocked_egress", blockChain("egress")],
  ["blocked_ingress", blockChain("ingress")],
  ["blocked_unbound", blockChain("unbound")],
];

const FORWARD = [
  "type filter hook forward priority filter - 10; policy accept;",
  "ct state established,related accept",
  "ip saddr @local_ranges ip saddr != @local_pods goto blocked_unbound",
  "ip daddr @local_ranges ip daddr != @local_pods goto blocked_unbound",
  "ip saddr @eg_policed jump egress",
  "ip daddr @in_policed jump ingress",
];

/**
 * The whole table with its elements, replacing any previous one in the same transaction (the
 * old rules hold until the new ones do).
 */
export function fullScript(el: Elements): string {
  const out = [
    `add table ${FAMILY_TABLE}`,
    `delete table ${FAMILY_TABLE}`,
    `table ${FAMILY_TABLE} {`,
  ];
  for (const c of COUNTERS) out.push(`  counter ${c} { }`);
  for (const [name, s] of Object.entries(SETS)) {
    const elements = [...(el.get(name) ?? [])];
    out.push(
      `  set ${name} {`,
      `    type ${s.type};`,
      ...(s.interval ? ["    flags interval;"] : []),
      ...(elements.length > 0 ? [`    elements = { ${elements.join(", ")} }`] : []),
      "  }",
    );
  }
  for (const [name, rules] of [["forward", FORWARD] as [string, string[]], ...CHAINS]) {
    out.push(`  chain ${name} {`, ...rules.map((r) => `    ${r}`), "  }");
  }
  out.push("}");
  return out.join("\n") + "\n";
}

/** One transaction: deletions first, so a reshaped interval never collides with its old self. */
export function diffScript(d: ElementDiff): string {
  const out: string[] = [];
  for (const [set, els] of d.remove) {
    out.push(`delete element ${FAMILY_TABLE} ${set} { ${els.join(", ")} }`);
  }
  for (const [set, els] of d.add) {
    out.push(`add element ${FAMILY_TABLE} ${set} { ${els.join(", ")} }`);
  }
  return out.join("\n") + (out.length > 0 ? "\n" : "");
}

export const deleteScript = () => `add table ${FAMILY_TABLE}\ndelete table ${FAMILY_TABLE}\n`;
