/** The mesh's Prometheus metrics, read from live state at scrape time. */
import type { Registry } from "../api/metrics.ts";
import type { Mesh } from "./router.ts";

/** Registers the mesh metrics; returns a function to call before each render (counters). */
export function registerMeshMetrics(registry: Registry, mesh: Mesh): () => void {
  registry.gaugeFn("weavets_connections", "Control connections by state and encryption.", () => {
    const m = new Map<string, { labels: Record<string, string>; value: number }>();
    for (const c of mesh.status().connections) {
      const labels = { state: c.state, encryption: c.encrypted ? "yes" : "no" };
      const key = `${labels.state}/${labels.encryption}`;
      const cur = m.get(key) ?? { labels, value: 0 };
      cur.value++;
      m.set(key, cur);
    }
    return [...m.values()];
  });
  registry.gaugeFn("weavets_peers", "Peers in the topology, by reachability.", () => {
    const peers = mesh.peers();
    const reachable = peers.filter((p) => p.reachable).length;
    return [
      { labels: { reachable: "true" }, value: reachable },
      { labels: { reachable: "false" }, value: peers.length - reachable },
    ];
  });
  const refusals = registry.counter(
    "weavets_connection_refusals_total",
    "Control connections refused or closed by a protection, by reason.",
  );
  const terminations = registry.counter(
    "weavets_connection_terminations_total",
    "Established control connections that ended.",
  );
  const messages = registry.counter(
    "weavets_gossip_messages_total",
    "Gossip messages by direction and channel.",
  );
  const bytes = registry.counter(
    "weavets_gossip_bytes_total",
    "Gossip bytes by direction and channel.",
  );
  const rejected = registry.counter(
    "weavets_gossip_rejected_total",
    "Gossip messages from peers a channel could not take (malformed or conflicting), by channel.",
  );
  const unknownChannel = registry.counter(
    "weavets_gossip_unknown_channel_total",
    "Gossip messages for channels not registered here (a peer running more components).",
  );
  const refreshAuthorship = registerAuthorshipMetrics(registry, mesh);
  return () => {
    refreshAuthorship();
    terminations.set(mesh.counters.terminations);
    for (const [reason, n] of mesh.counters.refusals) refusals.set(n, { reason });
    for (const [channel, s] of mesh.gossip.stats) {
      messages.set(s.sentMessages, { direction: "sent", channel });
      messages.set(s.receivedMessages, { direction: "received", channel });
      bytes.set(s.sentBytes, { direction: "sent", channel });
      bytes.set(s.receivedBytes, { direction: "received", channel });
      rejected.set(s.rejected, { channel });
    }
    unknownChannel.set(mesh.gossip.unknownChannel);
  };
}

/** What forged, unverifiable or oversized input cost (docs/PROTOCOL.md, "Authorship"). */
function registerAuthorshipMetrics(registry: Registry, mesh: Mesh): () => void {
  const envelopes = registry.counter(
    "weavets_gossip_unauthentic_total",
    "Broadcasts and unicasts dropped: not signed by their source (forged) or from a source " +
      "without a bound key yet (unknown), by channel.",
  );
  const dropped = registry.counter(
    "weavets_topology_entries_dropped_total",
    "Topology entries or messages dropped, by reason (key-mismatch and bad-signature are " +
      "forgeries).",
  );
  const refused = registry.counter(
    "weavets_topology_entries_refused_total",
    "Verified topology entries not kept, by reason (full, version-jump, evicted-unreachable).",
  );
  const keys = registry.counter(
    "weavets_peer_key_refusals_total",
    "Keys not bound to a peer name, by reason (key-change, own-name, revoked, unvouched, full).",
  );
  const checks = registry.counter(
    "weavets_topology_signature_checks_total",
    "Signatures of topology entries verified.",
  );
  return () => {
    for (const [channel, s] of mesh.gossip.stats) {
      envelopes.set(s.forged, { channel, kind: "forged" });
      envelopes.set(s.unknownSource, { channel, kind: "unknown" });
    }
    for (const [reason, n] of mesh.topology.gossiper.drops) dropped.set(n, { reason });
    for (const [reason, n] of mesh.store.refusals) refused.set(n, { reason });
    for (const [reason, n] of mesh.keys.refusals) keys.set(n, { reason });
    checks.set(mesh.topology.gossiper.verifier.verifications);
  };
}
