/**
 * Pod traffic for the data-plane end-to-end tests (dataplane_e2e_test, fastpath_test): pods
 * attached by the CNI plugin, all-pairs ping, ARP across nodes, a TCP transfer checked by sha256,
 * multicast — through tests/dataplane/net_tool.ts run inside the pods' namespaces.
 */
import assert from "node:assert/strict";
import { Cluster, type Pod } from "../../cli/demo/cluster.ts";
import { spawnIn } from "../../cli/demo/exec.ts";
import { inNetns, listLinks, listNeigh } from "../../net/linux/mod.ts";
import { REPO_ROOT } from "../harness/binary.ts";
import { secondsSince } from "./e2e.ts";

/** The data-plane tests' traffic tool (sink/source with sha256, text, mrecv/msend). */
export const NET_TOOL = `${REPO_ROOT}/tests/dataplane/net_tool.ts`;
export const GROUP = "239.1.1.1";
export const dec = new TextDecoder();

/** Runs net_tool.ts inside a pod's namespace with this Deno. */
export function tool(pod: Pod, ...args: string[]): Deno.ChildProcess {
  return spawnIn(pod.netns, Deno.execPath(), ["run", "-A", "--unstable-net", NET_TOOL, ...args], {
    env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
  });
}

/** Collects a stream's text; resolves `first` with the first line as soon as it is there. */
export function lines(
  stream: ReadableStream<Uint8Array>,
): { first: Promise<string>; all: Promise<string> } {
  let text = "";
  let gotFirst: (l: string) => void = () => {};
  const first = new Promise<string>((r) => (gotFirst = r));
  const all = (async () => {
    for await (const chunk of stream) {
      text += dec.decode(chunk);
      if (text.includes("\n")) gotFirst(text.slice(0, text.indexOf("\n")));
    }
    gotFirst(text);
    return text;
  })();
  return { first, all };
}

/** Kills a child (by its PID, through the handle) after `ms` unless it exited. */
export function bound(child: Deno.ChildProcess, ms: number): void {
  const t = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // exited meanwhile
    }
  }, ms);
  child.status.finally(() => clearTimeout(t));
}

export const timed = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
  const t0 = performance.now();
  const v = await fn();
  console.log(`  ${what}: ${secondsSince(t0)} s`);
  return v;
};

export async function addPods(c: Cluster): Promise<Pod[]> {
  const pods: Pod[] = [];
  for (const n of c.nodes) {
    for (const label of ["a", "b"]) pods.push(await c.addPod(n, label));
  }
  for (const p of pods) assert.ok(p.ip, `${p.name} got an address from the CNI plugin`);
  return pods;
}

/** Every pod pings every other pod (one retry each, after the path came up). */
export async function allPairsPing(c: Cluster, pods: Pod[]): Promise<void> {
  // The first cross-node packets may wait for the mesh to tell the data plane about the pods.
  await Cluster.waitFor(
    "a first cross-node ping",
    async () => (await c.ping(pods[0], pods[pods.length - 1].ip!, 1)).ok,
    15_000,
    100,
  );
  const failed: string[] = [];
  await Promise.all(pods.map(async (a) => {
    for (const b of pods) {
      if (a === b) continue;
      const r = (await c.ping(a, b.ip!)).ok || (await c.ping(a, b.ip!)).ok;
      if (!r) failed.push(`${a.name} -> ${b.name}`);
    }
  }));
  assert.deepEqual(failed, [], "every pod reaches every other pod");
}

/** After the pings, a pod's neighbour table holds the remote pods' real MACs: ARP crossed. */
export function arpAcrossNodes(pods: Pod[]): void {
  const macOf = (p: Pod) => inNetns(p.netns, () => listLinks()).find((l) => l.name === "eth0")!.mac;
  const a = pods[0];
  const neigh = inNetns(a.netns, () => listNeigh("eth0"));
  for (const b of pods.filter((p) => p.node !== a.node)) {
    assert.equal(neigh.find((n) => n.ip === b.ip)?.mac, macOf(b), `${a.name}'s ARP for ${b.name}`);
  }
}

/** `mb` MiB of seeded bytes over TCP from `from` to `to`: both ends print size and sha256. */
export async function transfer(from: Pod, to: Pod, mb: number, port: string): Promise<number> {
  const sink = tool(to, "sink", port);
  bound(sink, 60_000);
  const out = lines(sink.stdout);
  assert.equal(await out.first, "listening", "the sink listens");
  const t0 = performance.now();
  const src = tool(from, "source", to.ip!, port, `${mb}`, "42");
  bound(src, 60_000);
  const [sent, srcErr, srcStatus, got, sinkErr] = await Promise.all([
    lines(src.stdout).all,
    lines(src.stderr).all,
    src.status,
    out.all,
    lines(sink.stderr).all,
  ]);
  const secs = (performance.now() - t0) / 1000;
  await sink.status;
  assert.ok(srcStatus.success, `the source exited with ${srcStatus.code}: ${srcErr}`);
  assert.equal(sinkErr, "", "the sink reports no error");
  assert.match(sent.trim(), new RegExp(`^${mb << 20} [0-9a-f]{64}$`));
  assert.equal(got.trim().split("\n").pop(), sent.trim(), `${mb} MiB arrive intact (same sha256)`);
  return secs;
}

/** A sender on node 1 to 239.1.1.1; receivers on nodes 2 and 3 each get the datagrams. */
export async function multicast(pods: Pod[], text: string): Promise<void> {
  const sender = pods[0];
  const receivers = [pods[2], pods[4]];
  assert.deepEqual(receivers.map((p) => p.node.index), [2, 3]);
  // Receivers listen 6 s from joining: room for the sender's start-up on busy cores.
  const recv = receivers.map((r) => tool(r, "mrecv", GROUP, "5002", "6"));
  for (const r of recv) bound(r, 20_000);
  const outs = recv.map((r) => lines(r.stdout));
  for (const o of outs) assert.equal(await o.first, "joined");
  // IGMP reports reach the bridges before the first datagram.
  await new Promise((r) => setTimeout(r, 300));
  const s = await tool(sender, "msend", GROUP, "5002", text, "10").output();
  assert.ok(s.success, dec.decode(s.stderr));
  for (const [k, o] of outs.entries()) {
    const got = (await o.all).split("\n").filter((l) => l.startsWith(text)).length;
    await recv[k].status;
    assert.ok(got >= 8, `receiver on ${receivers[k].node.name} got ${got}/10 multicast datagrams`);
  }
}
