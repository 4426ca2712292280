import assert from "node:assert/strict";
import { detectWeave, type NodeSeen, type Port, refusalMessage } from "./detect.ts";

const PORTS: Port[] = [
  { proto: "tcp", port: 6783, use: "control plane" },
  { proto: "udp", port: 6783, use: "userspace data path" },
  { proto: "udp", port: 6784, use: "VXLAN fast path", kernel: true },
];

const quiet = (over: Partial<NodeSeen> = {}): NodeSeen => ({
  links: ["lo", "eth0"],
  sockets: [],
  processes: [],
  pods: null,
  ...over,
});

Deno.test("a node with nothing of Weave's is free", () => {
  assert.deepStrictEqual(detectWeave(quiet(), PORTS), {
    alive: false,
    evidence: [],
    leftovers: [],
  });
});

Deno.test("weaver holding TCP 6783 is a live Weave, named with its pid", () => {
  const v = detectWeave(
    quiet({
      sockets: [{ proto: "tcp", port: 6783, inode: 77, owners: [{ pid: 4242, comm: "weaver" }] }],
    }),
    PORTS,
  );
  assert(v.alive);
  assert.deepStrictEqual(v.evidence, [
    "TCP 6783 (control plane) is held by weaver (pid 4242): Weave Net is running",
  ]);
});

Deno.test("any process on a port weavets needs is a refusal, also one /proc does not show", () => {
  const v = detectWeave(
    quiet({ sockets: [{ proto: "udp", port: 6783, inode: 9, owners: [] }] }),
    PORTS,
  );
  assert(v.alive);
  assert.ok(v.evidence[0].includes("not visible from here (socket inode 9)"));
  const busy = detectWeave(quiet({ inUse: [PORTS[0]] }), PORTS);
  assert(busy.alive);
  assert.deepStrictEqual(busy.evidence, ["TCP 6783 (control plane) is in use (owner not found)"]);
});

Deno.test("a kernel socket on the VXLAN port (a left VXLAN device) is no live owner", () => {
  const v = detectWeave(
    quiet({ sockets: [{ proto: "udp", port: 6784, inode: 496085, owners: [] }] }),
    PORTS,
  );
  assert.deepStrictEqual(v.alive, false);
  // Negative control: the same port held by a process counts.
  const held = detectWeave(
    quiet({ sockets: [{ proto: "udp", port: 6784, inode: 5, owners: [{ pid: 1, comm: "x" }] }] }),
    PORTS,
  );
  assert(held.alive);
});

Deno.test("Weave's devices: leftovers when nobody owns them, live with a weaver process", () => {
  const links = ["lo", "weave", "datapath", "vethwe-bridge", "vethwe-datapath", "vethwe-tap"];
  const dead = detectWeave(quiet({ links }), PORTS);
  assert.deepStrictEqual(dead, {
    alive: false,
    evidence: [],
    leftovers: ["datapath", "vethwe-bridge", "vethwe-datapath"],
  });
  const live = detectWeave(quiet({ links, processes: [{ pid: 12, comm: "weaver" }] }), PORTS);
  assert(live.alive);
  assert.deepStrictEqual(live.evidence, ["Weave Net's weaver is running (pid 12)"]);
  assert.deepStrictEqual(live.leftovers, []);
});

Deno.test("a weave-net pod on this node counts until it has ended", () => {
  const pod = { namespace: "kube-system", name: "weave-net-x7k2p", terminating: true };
  const running = detectWeave(quiet({ pods: [{ ...pod, phase: "Running" }] }), PORTS);
  assert(running.alive);
  assert.deepStrictEqual(running.evidence, [
    "pod kube-system/weave-net-x7k2p is on this node (Running, terminating)",
  ]);
  assert.deepStrictEqual(
    detectWeave(quiet({ pods: [{ ...pod, phase: "Succeeded" }] }), PORTS).alive,
    false,
  );
});

Deno.test("the refusal says nothing changed and what to do", () => {
  const m = refusalMessage({ alive: true, evidence: ["TCP 6783 …"], leftovers: [] });
  assert.ok(m.includes("Nothing on this node was changed"));
  assert.ok(m.includes("kubectl -n kube-system delete daemonset weave-net"));
  assert.ok(m.includes("docs/MIGRATING.md"));
  assert.ok(m.includes("  - TCP 6783 …"));
});
