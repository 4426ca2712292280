import assert from "node:assert/strict";
import { parseIPv4 } from "../addr/mod.ts";
import { describeBlocked } from "./blocked.ts";
import { PolicyEngine } from "./engine.ts";
import { networkPolicySchema, podSchema, toPod, toPolicy } from "./objects.ts";
import { LOG_PREFIX } from "./ruleset.ts";

const ip = parseIPv4;

function engine(): PolicyEngine {
  const e = new PolicyEngine({ node: "n1", supported: (p) => p !== "SCTP" });
  const pod = (name: string, addr: string, node: string, labels: Record<string, string>) =>
    e.model.upsertPod(toPod(podSchema.parse({
      metadata: { name, namespace: "x", labels },
      spec: { nodeName: node },
      status: { phase: "Running", podIP: addr },
    })));
  pod("web", "10.0.0.2", "n1", { app: "web" });
  pod("db", "10.0.0.3", "n2", { app: "db" });
  pod("other", "10.0.0.4", "n1", { app: "other" });
  const policy = (name: string, spec: unknown) =>
    e.model.upsertPolicy(
      toPolicy(networkPolicySchema.parse({ metadata: { name, namespace: "x" }, spec })),
    );
  policy("deny", { podSelector: {} });
  policy("db-from-web", {
    podSelector: { matchLabels: { app: "db" } },
    ingress: [{
      from: [{ podSelector: { matchLabels: { app: "web" } } }],
      ports: [{ port: 5432 }],
    }],
  });
  e.commit();
  return e;
}

Deno.test("check: each direction from the node that enforces it, with the rules that decide", () => {
  const e = engine();
  const ok = e.check({ src: ip("10.0.0.2"), dst: ip("10.0.0.3"), protocol: "TCP", port: 5432 });
  assert.equal(ok.allowed, true);
  assert.deepEqual(ok.egress, {
    outcome: "pass",
    node: "n1",
    policies: [],
    allowedBy: [],
    pending: false,
  });
  // db lives on n2: its ingress is answered by compiling n2's view with the same code.
  assert.equal(ok.ingress.node, "n2");
  assert.equal(ok.ingress.outcome, "allow");
  assert.deepEqual(ok.ingress.allowedBy, [{ policy: "x/db-from-web", rule: 0 }]);
  assert.deepEqual(ok.ingress.policies, ["x/db-from-web", "x/deny"]);

  const no = e.check({ src: ip("10.0.0.4"), dst: ip("10.0.0.3"), protocol: "TCP", port: 5432 });
  assert.equal(no.allowed, false);
  assert.equal(no.ingress.outcome, "deny");
  assert.deepEqual(no.ingress.allowedBy, []);
  const local = e.check({ src: ip("10.0.0.3"), dst: ip("10.0.0.2"), protocol: "UDP", port: 53 });
  assert.equal(local.ingress.node, "n1");
  assert.equal(local.ingress.outcome, "deny");
});

Deno.test("a blocked packet from NFLOG is read back into pods, port and policies", () => {
  const e = engine();
  const packet = new Uint8Array(40);
  packet[0] = 0x45; // IPv4, 20-byte header
  packet[9] = 6; // TCP
  packet.set([10, 0, 0, 4], 12);
  packet.set([10, 0, 0, 2], 16);
  new DataView(packet.buffer).setUint16(22, 8080, false);
  assert.deepEqual(describeBlocked(`${LOG_PREFIX}ingress `, packet, e.model, e.state), {
    direction: "ingress",
    src: "10.0.0.4",
    dst: "10.0.0.2",
    protocol: "tcp",
    port: 8080,
    srcPod: "x/other",
    dstPod: "x/web",
    policies: ["x/deny"],
  });
  assert.equal(describeBlocked("someone else ", packet, e.model, e.state), undefined);
  assert.equal(
    describeBlocked(`${LOG_PREFIX}ingress `, packet.subarray(0, 10), e.model, e.state),
    undefined,
  );
});
