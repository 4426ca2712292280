import assert from "node:assert/strict";
import type { MeshStatus } from "./status.ts";
import { formatConnections, formatPeers, formatSections, routerSection } from "./status_text.ts";

const A = "02:00:00:00:00:01", B = "02:00:00:00:00:02";
const status: MeshStatus = {
  name: A,
  nickname: "host-0",
  uid: "0000000000000001",
  protocol: "weavets 1..1",
  encryption: true,
  controlAuth: "password",
  peerDiscovery: true,
  connLimit: 200,
  listen: "0.0.0.0:6783",
  targets: ["10.0.0.2:6783", "10.0.0.9:6783"],
  connections: [
    {
      direction: "outbound",
      address: "10.0.0.2:6783",
      state: "established",
      encrypted: true,
      name: B,
      nickname: "host-1",
    },
    {
      direction: "outbound",
      address: "10.0.0.9:6783",
      state: "retrying",
      encrypted: true,
      reason: "Connection refused (os error 111)",
      retryAt: "2026-01-01T00:00:02.000Z",
    },
  ],
  peers: [
    {
      name: A,
      nickname: "host-0",
      uid: "0000000000000001",
      version: 3,
      reachable: true,
      connections: [{
        name: B,
        nickname: "host-1",
        address: "10.0.0.2:6783",
        outbound: true,
        established: true,
      }],
    },
    {
      name: B,
      nickname: "host-1",
      uid: "0000000000000002",
      version: 2,
      reachable: false,
      connections: [{
        name: A,
        nickname: "host-0",
        address: "10.0.0.1:6783",
        outbound: false,
        established: false,
      }],
    },
  ],
  routes: {},
};

Deno.test("status text: the summary lists the router like `weave status`", () => {
  const text = formatSections([routerSection(status), {
    service: "ipam",
    fields: [["Status", "idle"]],
  }], [
    ["Version", "0.1.0"],
  ]);
  assert.match(text, /^ +Version: 0\.1\.0\n\n +Service: router\n/);
  assert.match(text, /\n +Name: 02:00:00:00:00:01\(host-0\)\n/);
  assert.match(text, /\n +Encryption: enabled\n/);
  assert.match(text, /\n +Targets: 2\n/);
  assert.match(text, /\n +Connections: 2 \(1 established, 1 retrying\)\n/);
  assert.match(text, /\n +Peers: 2 \(with 1 established connections\)\n/);
  assert.match(text, /\n\n +Service: ipam\n +Status: idle\n$/);
  // keys are right-aligned on the colon
  const colons = text.split("\n").filter((l) => l.includes(":")).map((l) => l.indexOf(": "));
  assert.equal(new Set(colons).size, 1);
});

Deno.test("status text: connections show direction, address, state, encryption, data path, info", () => {
  const text = formatConnections(status.connections.map((c) => ({ ...c, dataPath: "sleeve" })));
  const [est, retry] = text.trimEnd().split("\n");
  assert.equal(
    est,
    `-> 10.0.0.2:6783         established encrypted   sleeve   ${B}(host-1)`,
  );
  assert.match(
    retry,
    /^-> 10\.0\.0\.9:6783 +retrying +encrypted +sleeve +Connection refused \(os error 111\), retry: 2026-01-01T00:00:02\.000Z$/,
  );
});

Deno.test("status text: peers with their connections, pending when one end does not report it", () => {
  const lines = formatPeers(status.peers).trimEnd().split("\n");
  assert.equal(lines[0], `${A}(host-0)`);
  assert.match(lines[1], new RegExp(`^   -> 10\\.0\\.0\\.2:6783 +${B}\\(host-1\\) +established$`));
  assert.equal(lines[2], `${B}(host-1) - unreachable`);
  assert.match(lines[3], /^ {3}<- 10\.0\.0\.1:6783 +.* pending$/);
});

Deno.test("status text: an established connection says why it uses its data path", () => {
  const text = formatConnections(
    status.connections.slice(0, 1).map((c) => ({
      ...c,
      dataPath: "sleeve",
      pathReason: "fast path probes unanswered for 12 s",
    })),
  );
  assert.equal(
    text.trimEnd(),
    `-> 10.0.0.2:6783         established encrypted   sleeve   ${B}(host-1) (fast path probes unanswered for 12 s)`,
  );
});

Deno.test("status text: without a password, how the control plane is authenticated", () => {
  const line = (s: MeshStatus) => routerSection(s).fields.find(([k]) => k === "Encryption")![1];
  assert.equal(line(status), "enabled");
  assert.equal(
    line({ ...status, encryption: false, controlAuth: "cluster-secret" }),
    "disabled; control plane authenticated (cluster secret)",
  );
  assert.equal(
    line({ ...status, encryption: false, controlAuth: "none" }),
    "disabled; control plane unauthenticated",
  );
});
