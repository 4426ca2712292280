/**
 * The input allow-list (pure): who may send to this node's data ports, and the nftables table that
 * says so. Issue 13, "only peers send to the data ports": without it any host that reaches the node
 * can put a VXLAN frame (UDP 6784) with a spoofed pod source on the bridge.
 *
 * Who is allowed: the underlay address of every peer that is in the topology now and has gossiped
 * its data-plane record (channel "macs", signed by its source). That record's address is the one
 * the peer sends from: its VXLAN device has it as `local`, and the sleeve refuses unencrypted
 * messages from any other. Nothing configured (--peers) is needed before first contact: a join
 * runs over TCP 6783, which stays open (its handshake is authenticated), and no peer sends to the
 * data ports before its record has arrived over that connection. After a restart the addresses
 * the previous run left in the kernel are kept for a grace period, so the fast path the kernel
 * still carries is not cut while gossip catches up.
 *
 * The table (`inet weavets_input`), replaced as a whole in one transaction:
 * - UDP to the sleeve and fast-path ports from a non-peer: counted, dropped (IPv6 too: peers are
 *   IPv4, so no IPv6 source is one);
 * - TCP to the HTTP API port from anything but loopback: counted, dropped. Weave Net dropped
 *   non-local sources to 6784 for the same reason: with route_localnet (kube-proxy sets it) a
 *   remote host can reach 127.0.0.1. Locally originated traffic always arrives on `lo`, so that
 *   is the test (a forged 127.0.0.1 source from the wire arrives elsewhere and is dropped too).
 *   Skipped when the operator put the API on another address on purpose (--http-addr).
 * - TCP 6783 is not touched.
 * No conntrack expression: the chain adds no per-packet state, and accepted packets go on to
 * whatever else the node's rules say (an accept here is not an accept there). No `notrack` for
 * the peers' datagrams either, although conntrack (once masquerading or kube-proxy turns it on)
 * tracks each one on both ends: measured (bench/RESULTS-dataplane.md, 2026-12-03), a raw chain
 * costs more than it saves, because br_netfilter sends every bridged pod frame through
 * prerouting too, and entering a base chain costs more than an established flow's lookup.
 */
import { isIPv4 } from "../../addr/mod.ts";
import type { ListenAddress } from "../../api/listen_address.ts";
import type { PeerName } from "../../mesh/gossip_channel.ts";

export const INPUT_TABLE = "weavets_input";
const TABLE = `inet ${INPUT_TABLE}`;

/** Named counters in the table, one per port: the metric's `port` label. */
export const REFUSED_COUNTERS = {
  sleeve: "refused_sleeve",
  fastdp: "refused_fastdp",
  api: "refused_api",
} as const;
export type RefusedPort = keyof typeof REFUSED_COUNTERS;

/** At most this many addresses (the data plane keeps at most 65,536 peer records). */
export const MAX_ALLOWED = 65_536;

export interface AllowlistInput {
  self: PeerName;
  /** Every peer in the topology now (MeshView.peers(), reachable or not). */
  topology: ReadonlySet<PeerName>;
  /** The data plane's peer records: where each peer sends from. */
  records: ReadonlyArray<{ peer: PeerName; addr: string }>;
  /** Addresses the kernel's set held when this run started (a previous run's). */
  adopted: readonly string[];
  /** True once the restart grace period is over: adopted addresses no record names go. */
  graceOver: boolean;
}

/**
 * The allowed source addresses, sorted and without duplicates. A peer that left the topology
 * (rmpeer, forgotten by the mesh) loses its place; one merely unreachable keeps it, as the
 * kernel's fast path towards it is kept while its control connection is down. A record that is
 * not an IPv4 address (the schema allows only those; defence in depth) is ignored.
 */
export function allowedSources(i: AllowlistInput): string[] {
  const out = new Set<string>();
  for (const r of i.records) {
    if (r.peer === i.self || !i.topology.has(r.peer) || !isIPv4(r.addr)) continue;
    out.add(r.addr);
  }
  if (!i.graceOver) { for (const a of i.adopted) if (isIPv4(a)) out.add(a); }
  return [...out].sort(compareIPv4).slice(0, MAX_ALLOWED);
}

function compareIPv4(a: string, b: string): number {
  const x = a.split(".").map(Number);
  const y = b.split(".").map(Number);
  for (let k = 0; k < 4; k++) if (x[k] !== y[k]) return x[k] - y[k];
  return 0;
}

/**
 * Which TCP port the "local sources only" rule guards, for the API's listen address: its port
 * when it listens on loopback (the default 127.0.0.1:6784), null for a Unix socket (no port) or
 * an address the operator chose to expose (0.0.0.0, a node address: dropping would undo that).
 */
export function apiRulePort(listen: ListenAddress): number | null {
  if (listen.transport !== "tcp") return null;
  return listen.hostname.startsWith("127.") ? listen.port : null;
}

export interface InputRules {
  sleevePort: number;
  fastdpPort: number;
  /** The HTTP API's TCP port when it listens on loopback; null: no rule for it. */
  apiPort: number | null;
  allowed: readonly string[];
}

/**
 * The whole table as one nft script: created if missing, then deleted and written again, in one
 * transaction (the kernel applies all of it or none; no window without the rules). The counters
 * restart from zero on each replacement, so the component adds what it read before.
 */
export function inputScript(r: InputRules): string {
  const c = chains(r);
  const lines = [
    `add table ${TABLE}`,
    `delete table ${TABLE}`,
    `table ${TABLE} {`,
    ...Object.values(REFUSED_COUNTERS).map((c) => `  counter ${c} {}`),
    `  set peers {`,
    `    type ipv4_addr`,
    ...(r.allowed.length > 0 ? [`    elements = { ${r.allowed.join(", ")} }`] : []),
    `  }`,
    `  chain input {`,
    `    type filter hook input priority filter; policy accept;`,
    ...c.input.map((l) => `    ${l}`),
    `  }`,
    `  chain data_ports {`,
    ...c.dataPorts.map((l) => `    ${l}`),
    `  }`,
    `}`,
  ];
  return lines.join("\n") + "\n";
}

function chains(r: Omit<InputRules, "allowed">): { input: string[]; dataPorts: string[] } {
  const ports = r.sleevePort === r.fastdpPort
    ? `${r.sleevePort}`
    : `{ ${r.sleevePort}, ${r.fastdpPort} }`;
  return {
    input: [
      `iif "lo" accept`,
      `udp dport ${ports} jump data_ports`,
      ...(r.apiPort !== null
        ? [`tcp dport ${r.apiPort} counter name ${REFUSED_COUNTERS.api} drop`]
        : []),
    ],
    dataPorts: [
      `ip saddr @peers accept`,
      `udp dport ${r.sleevePort} counter name ${REFUSED_COUNTERS.sleeve} drop`,
      `counter name ${REFUSED_COUNTERS.fastdp} drop`,
    ],
  };
}

/** How many rules the table holds when intact (a chain flushed from outside has fewer). */
export function ruleCount(r: Omit<InputRules, "allowed">): number {
  const c = chains(r);
  return c.input.length + c.dataPorts.length;
}

/** The change from one allowed set to the next, as one transaction on the set alone. */
export function updateScript(before: readonly string[], after: readonly string[]): string {
  const had = new Set(before);
  const want = new Set(after);
  const del = before.filter((a) => !want.has(a));
  const add = after.filter((a) => !had.has(a));
  const lines: string[] = [];
  if (del.length) lines.push(`delete element ${TABLE} peers { ${del.join(", ")} }`);
  if (add.length) lines.push(`add element ${TABLE} peers { ${add.join(", ")} }`);
  return lines.length ? lines.join("\n") + "\n" : "";
}

export function deleteScript(): string {
  return `add table ${TABLE}\ndelete table ${TABLE}\n`;
}

/** `list set` and `list counters` as nft prints them with --json: what this module reads back. */
export function parseSetElements(json: string): string[] {
  const out: string[] = [];
  for (const item of jsonItems(json)) {
    const set = (item as { set?: { name?: unknown; elem?: unknown } }).set;
    if (!set || set.name !== "peers" || !Array.isArray(set.elem)) continue;
    for (const e of set.elem) if (typeof e === "string" && isIPv4(e)) out.push(e);
  }
  return out;
}

/** The rules in `list table` (--json). */
export function parseRuleCount(json: string): number {
  return jsonItems(json).filter((i) => (i as { rule?: unknown }).rule !== undefined).length;
}

export function parseRefused(json: string): Record<RefusedPort, number> {
  const out: Record<RefusedPort, number> = { sleeve: 0, fastdp: 0, api: 0 };
  const byName = new Map<string, RefusedPort>(
    Object.entries(REFUSED_COUNTERS).map(([port, name]) => [name, port as RefusedPort]),
  );
  for (const item of jsonItems(json)) {
    const c = (item as { counter?: { name?: unknown; packets?: unknown } }).counter;
    const port = typeof c?.name === "string" ? byName.get(c.name) : undefined;
    if (port && typeof c!.packets === "number") out[port] = c!.packets;
  }
  return out;
}

function jsonItems(json: string): unknown[] {
  const v = JSON.parse(json) as { nftables?: unknown };
  return Array.isArray(v?.nftables) ? v.nftables : [];
}
