/**
 * IPAM's status view rendered for people: the `Service: ipam` section of `weavets status` and
 * `weavets status ipam` (Weave's per-peer line format). Pure.
 */
import type { StatusSection } from "../mesh/status_text.ts";
import type { IpamStatus } from "./types.ts";

/** The `Service: ipam` section of `weavets status`; `s` null before IPAM started. */
export function ipamSection(s: IpamStatus | null, range: string): StatusSection {
  const fields: Array<[string, string]> = [
    ["Status", s?.state ?? "not started"],
    ["Range", range],
    ["DefaultSubnet", range],
    ["Allocated", String(s?.allocated ?? 0)],
  ];
  if (s && s.conflicts.length > 0) {
    fields.push(["Conflicts", `${s.conflicts.length} (see 'weavets status ipam')`]);
  }
  return { service: "ipam", fields };
}

/** `weavets status ipam`: every peer's share, like Weave's, then any conflicts. */
export function ipamStatusText(s: IpamStatus | null, rangeSize: number): string {
  if (!s) return "IPAM not started\n";
  const lines = [`Status: ${s.state}`, `Range: ${s.range}`, `Allocated here: ${s.allocated}`, ""];
  for (const p of s.peers) {
    if (p.owned === 0 && p.name !== s.self) continue;
    const label = p.nickname ? `${p.name}(${p.nickname})` : p.name;
    const pct = ((100 * p.owned) / rangeSize).toFixed(1).padStart(4, "0");
    lines.push(
      `${label.padEnd(37)} ${String(p.owned).padStart(8)} IPs (${pct}% of total)` +
        (p.name === s.self ? ` (${s.allocated} active)` : "") +
        (p.reachable ? "" : " - unreachable!"),
    );
  }
  if (s.conflicts.length > 0) {
    lines.push("", "Conflicts:");
    for (const c of s.conflicts) {
      lines.push(`  ${c.kind}: ${c.message}${c.count > 1 ? ` (seen ${c.count} times)` : ""}`);
    }
  }
  const refused = Object.entries(s.refusedTokens ?? {}).filter(([, n]) => n > 0);
  if (refused.length > 0) {
    // Forgeries, or peers of another version: nothing was changed (docs/PROTOCOL.md §9).
    lines.push(
      "",
      `Refused ring token states (not signed by a peer entitled to change them; nothing changed): ${
        refused.map(([k, n]) => `${k} ${n}`).join(", ")
      }`,
    );
  }
  return lines.join("\n") + "\n";
}

/** Share of the range owned by peers this peer cannot reach, in percent. */
export function unreachablePercentage(s: IpamStatus | null, rangeSize: number): number {
  if (!s) return 0;
  const lost = s.peers.filter((p) => !p.reachable).reduce((n, p) => n + p.owned, 0);
  return (100 * lost) / rangeSize;
}
