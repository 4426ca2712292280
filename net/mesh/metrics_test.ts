import assert from "node:assert/strict";
import { Registry } from "../api/metrics.ts";
import { Logger } from "../log.ts";
import { registerMeshMetrics } from "./metrics.ts";
import { Mesh } from "./router.ts";

Deno.test("mesh metrics: refusals are counted by reason", () => {
  const mesh = new Mesh({
    name: "02:00:00:00:00:01",
    nickname: "m",
    host: "127.0.0.1",
    port: 0,
    password: null,
    connLimit: 10,
    peers: [],
    log: new Logger({ sink: { write() {} } }),
  });
  const registry = new Registry();
  const refresh = registerMeshMetrics(registry, mesh);
  mesh.counters.refusals.set("handshakes-per-source", 3);
  mesh.counters.refusals.set("auth-failed", 1);
  refresh();
  const text = registry.render();
  assert.match(text, /^weavets_connection_refusals_total\{reason="handshakes-per-source"\} 3$/m);
  assert.match(text, /^weavets_connection_refusals_total\{reason="auth-failed"\} 1$/m);
});
