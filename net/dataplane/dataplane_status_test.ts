import assert from "node:assert/strict";
import { Registry } from "../api/metrics.ts";
import { dataplaneMetrics, encryptionNote, peerPaths, statusFields } from "./dataplane_status.ts";
import { planPaths } from "./plan.ts";

Deno.test("encryption: said only with a password and no plaintext device, else what to do", () => {
  assert.equal(encryptionNote(false, undefined, "libcrypto"), "");
  assert.equal(
    encryptionNote(true, undefined, "libcrypto"),
    ", encrypted (ChaCha20-Poly1305 on libcrypto)",
  );
  const bad = encryptionNote(true, "vxlan-6784", "libcrypto");
  assert.match(bad, /NOT encrypted/);
  assert.doesNotMatch(bad, /, encrypted/);
  assert.match(bad, /ip link del vxlan-6784/);
});

Deno.test("status: the Sleeve line carries the encryption note; paths counted; reasons in words", () => {
  const plan = planPaths({
    mesh: { self: "s", known: new Set(["s", "b"]), reachable: new Set(["b"]), keyed: new Set() },
    records: [{
      peer: "b",
      version: 7,
      addr: "192.168.0.2",
      sleevePort: 6783,
      fastdpPort: 6784,
      fastdp: true,
      macs: [],
    }],
    fastdp: false,
    encrypted: false,
    lastReply: new Map(),
    previous: undefined,
    now: 0,
    probeTimeoutMs: 5000,
    adoptUntil: 0,
  });
  const paths = peerPaths(plan);
  assert.deepEqual(paths, [{
    peer: "b",
    version: 7,
    addr: "192.168.0.2",
    path: "sleeve",
    reason: "fast path disabled here (--no-fastdp)",
    reasonKind: "fastdp-off",
  }]);
  const fields = new Map(statusFields({
    bridge: "weave",
    fastdp: false,
    vxlan: "vxlan-6784",
    fastdpPort: 6784,
    sleevePort: 6783,
    encryption: encryptionNote(true, undefined, "libcrypto"),
    sleeve: undefined,
    paths,
    localMacs: 2,
  }));
  assert.equal(fields.get("Sleeve"), "UDP 6783, encrypted (ChaCha20-Poly1305 on libcrypto)");
  assert.equal(fields.get("FastDP"), "off");
  assert.equal(fields.get("Paths"), "0 fastdp, 1 sleeve");
  assert.equal(fields.get("Local MACs"), "2");
});

Deno.test("metrics: refused MAC claims by whether an owner kept the MAC", () => {
  const registry = new Registry();
  const disputed = [
    { mac: "0a:00:00:00:00:01", owner: "02:00:00:00:00:02", claimant: "02:00:00:00:00:09" },
    { mac: "0a:00:00:00:00:03", owner: null, claimant: "02:00:00:00:00:02" },
    { mac: "0a:00:00:00:00:03", owner: null, claimant: "02:00:00:00:00:09" },
  ];
  const refused = { invalid: 0, "unknown-author": 0, jump: 0 };
  dataplaneMetrics(registry, () => ({ paths: [], refused, disputed, sleeve: undefined }));
  const text = registry.render();
  assert.match(text, /^weavets_macs_disputed\{owner="kept"\} 1$/m);
  assert.match(text, /^weavets_macs_disputed\{owner="none"\} 2$/m);
});
