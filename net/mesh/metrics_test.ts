import assert from "node:assert/strict";
import { Registry } from "../api/metrics.ts";
import { Logger } from "../log.ts";
import { Tag } from "./codec.ts";
import { registerMeshMetrics } from "./metrics.ts";
import { Mesh } from "./router.ts";
import { SigningKey } from "./signing.ts";
import { encodeUpdate, signEntry } from "./topology.ts";

Deno.test("metrics: forged topology entries and envelopes are counted", () => {
  const lines: string[] = [];
  const mesh = new Mesh({
    name: "02:00:00:00:00:01",
    nickname: "n1",
    host: "127.0.0.1",
    port: 0,
    password: null,
    connLimit: 10,
    peers: [],
    log: new Logger({ json: true, sink: { write: (l) => lines.push(l) } }),
  });
  const registry = new Registry();
  const refresh = registerMeshMetrics(registry, mesh);
  const mallory = SigningKey.generate();
  // Our own name, signed by someone else; twice (the second is not logged again).
  const forged = signEntry(
    { name: mesh.self, nickname: "x", uid: "00000000000000aa", version: 1e6, connections: [] },
    mallory.publicKey,
    (d, p) => mallory.sign(d, p),
  );
  for (let i = 0; i < 2; i++) {
    const data = encodeUpdate([forged]);
    mesh.gossip.receive("02:00:00:00:00:09", { tag: Tag.gossip, channel: "topology", data }, 1);
  }
  mesh.channel("c", { fullState: () => new Uint8Array(), onGossip: () => null, onUnicast() {} });
  const envelope = new Uint8Array(70);
  mesh.gossip.receive("02:00:00:00:00:09", {
    tag: Tag.broadcast,
    channel: "c",
    source: mesh.self,
    data: envelope,
  }, 70);
  refresh();
  const text = registry.render();
  assert.match(text, /weavets_topology_entries_dropped_total\{reason="key-mismatch"\} 2/);
  assert.match(text, /weavets_gossip_unauthentic_total\{channel="c",kind="forged"\} 1/);
  assert.equal(lines.filter((l) => l.includes("forged topology entry")).length, 1, "rate-limited");
  assert.equal(mesh.store.own.version, 1, "no jump past a forgery");
});
