/**
 * Plain-text renderings of the mesh status, modelled on `weave status`: what `weavets peers` and
 * `weavets status [connections]` print. Pure: no I/O.
 */
import {
  type ConnectionStatus,
  type MeshStatus,
  type MeshSummary,
  type PeerStatus,
  summarize,
} from "./status.ts";

/** A status block: right-aligned keys, as in `weave status`. */
export interface StatusSection {
  service: string;
  fields: Array<[string, string]>;
}

export function formatSections(sections: StatusSection[], head: Array<[string, string]> = []) {
  const all = [
    head,
    ...sections.map((s) => [["Service", s.service], ...s.fields] as Array<[string, string]>),
  ];
  const width = Math.max(...all.flat().map(([k]) => k.length)) + 2;
  return all.filter((b) => b.length > 0)
    .map((b) => b.map(([k, v]) => `${k.padStart(width)}: ${v}`).join("\n"))
    .join("\n\n") + "\n";
}

function counts(items: string[]): string {
  const m = new Map<string, number>();
  for (const i of items) m.set(i, (m.get(i) ?? 0) + 1);
  return [...m].map(([k, v]) => `${v} ${k}`).join(", ");
}

/** The router section of `weavets status`. */
export function routerSection(status: MeshStatus | MeshSummary): StatusSection {
  const s = "connectionStates" in status ? status : summarize(status);
  const states = s.connectionStates;
  return {
    service: "router",
    fields: [
      ["Protocol", s.protocol],
      ["Name", `${s.name}(${s.nickname})`],
      ["Encryption", encryptionText(s)],
      ["PeerDiscovery", s.peerDiscovery ? "enabled" : "disabled"],
      ["Targets", String(s.targets)],
      ["Connections", `${states.length}${states.length ? ` (${counts(states)})` : ""}`],
      ["Peers", `${s.peers} (with ${s.establishedConnections} established connections)`],
      ["ConnLimit", String(s.connLimit)],
    ],
  };
}

/** Data-path encryption and, without it, how the control plane is authenticated. */
function encryptionText(s: Pick<MeshSummary, "encryption" | "controlAuth">): string {
  if (s.encryption) return "enabled";
  return s.controlAuth === "cluster-secret"
    ? "disabled; control plane authenticated (cluster secret)"
    : "disabled; control plane unauthenticated";
}

/** `weavets status connections`: direction, address, state, encryption, data path, info. */
export function formatConnections(cs: ConnectionStatus[]): string {
  return cs.map((c) => {
    const info = c.state === "established"
      ? `${c.name}(${c.nickname})${c.pathReason ? ` (${c.pathReason})` : ""}`
      : [
        c.name ? `${c.name}(${c.nickname ?? ""})` : "",
        c.reason ?? "",
        c.retryAt ? `retry: ${c.retryAt}` : "",
      ]
        .filter(Boolean).join(", ");
    return [
      c.direction === "outbound" ? "->" : "<-",
      c.address.padEnd(21),
      c.state.padEnd(11),
      (c.encrypted ? "encrypted" : "unencrypted").padEnd(11),
      (c.dataPath ?? "-").padEnd(8),
      info,
    ].join(" ").trimEnd();
  }).join("\n") + (cs.length ? "\n" : "");
}

/** `weavets peers`: every peer, then its connections indented below it. */
export function formatPeers(peers: PeerStatus[]): string {
  const lines: string[] = [];
  for (const p of peers) {
    lines.push(`${p.name}(${p.nickname})${p.reachable ? "" : " - unreachable"}`);
    for (const c of p.connections) {
      lines.push(
        `   ${c.outbound ? "->" : "<-"} ${c.address.padEnd(21)} ${
          `${c.name}(${c.nickname})`.padEnd(
            36,
          )
        } ${c.established ? "established" : "pending"}`,
      );
    }
  }
  return lines.join("\n") + (lines.length ? "\n" : "");
}
