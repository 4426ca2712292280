/**
 * The data path each connection reports (`weavets status connections`) and the VXLAN FDB, for the
 * data-plane end-to-end tests: waiting for a path, a cluster on the fast path, pods that talk.
 */
import assert from "node:assert/strict";
import { Cluster, type Pod } from "../../cli/demo/cluster.ts";

const dec = new TextDecoder();

/**
 * Every node's established connections report `path`, in the JSON and in the text view, and
 * whether they are encrypted.
 */
export async function waitPath(c: Cluster, path: string, encrypted: boolean): Promise<void> {
  const check = async () => {
    for (const n of c.nodes) {
      const r = await c.cli(n, ["status", "connections", "--json"], 10_000);
      const conns = (JSON.parse(r.stdout) as Array<{ state: string; dataPath?: string }>)
        .filter((x) => x.state === "established");
      if (conns.length !== c.nodes.length - 1 || conns.some((x) => x.dataPath !== path)) {
        return false;
      }
    }
    return true;
  };
  await Cluster.waitFor(`every connection on ${path}`, check, 20_000, 250);
  const text = await c.cli(c.nodes[0], ["status", "connections"]);
  assert.equal(text.code, 0, text.stderr);
  const established = text.stdout.split("\n").filter((l) => / established /.test(l));
  assert.equal(established.length, 2, text.stdout);
  for (const l of established) {
    assert.match(l, new RegExp(` ${encrypted ? "encrypted" : "unencrypted"} +${path} `), l);
  }
  if (encrypted) {
    // Which AEAD implementation seals the traffic (libcrypto here; node:crypto without it).
    const summary = (await c.cli(c.nodes[0], ["status"])).stdout;
    assert.match(summary, /Sleeve: UDP 6783, encrypted \(ChaCha20-Poly1305 on libcrypto\)/);
  }
}

/** The data path each established connection of `node` reports, by peer name. */
export async function paths(c: Cluster, node: Cluster["nodes"][number]) {
  const r = await c.cli(node, ["status", "connections", "--json"], 10_000);
  assert.equal(r.code, 0, r.stderr);
  const conns = JSON.parse(r.stdout) as Array<
    { state: string; name?: string; dataPath?: string; pathReason?: string }
  >;
  return new Map(
    conns.filter((x) => x.state === "established").map((x) => [x.name, x] as const),
  );
}

/** Waits until `node`'s connection to `peer` uses `path`; returns the seconds it took. */
export async function waitPeerPath(
  c: Cluster,
  node: Cluster["nodes"][number],
  peer: Cluster["nodes"][number],
  path: string,
  ms: number,
): Promise<number> {
  const t0 = performance.now();
  await Cluster.waitFor(
    `${node.name} -> ${peer.name} on ${path}`,
    async () => (await paths(c, node)).get(Cluster.peerName(peer.index))?.dataPath === path,
    ms,
    250,
  );
  return (performance.now() - t0) / 1000;
}

/** The VXLAN FDB entries of a node that point at a peer (MAC and underlay address). */
export async function fdb(node: Cluster["nodes"][number]): Promise<string[]> {
  const r = await new Deno.Command("bridge", {
    args: ["-n", node.name, "-j", "fdb", "show", "dev", "vxlan-6784"],
  }).output();
  assert.ok(r.success, dec.decode(r.stderr));
  return (JSON.parse(dec.decode(r.stdout)) as Array<{ mac: string; dst?: string }>)
    .filter((e) => e.dst).map((e) => `${e.mac} ${e.dst}`).sort();
}

/** Both ways, retried once (a path change may lose a packet). */
export async function talk(c: Cluster, a: Pod, b: Pod): Promise<boolean> {
  const one = async (x: Pod, y: Pod) => (await c.ping(x, y.ip!)).ok || (await c.ping(x, y.ip!)).ok;
  return await one(a, b) && await one(b, a);
}

/** Node 1 with a pod, nodes 2 and 3 with one each, all connections on the fast path. */
export async function fastCluster(c: Cluster): Promise<Pod[]> {
  const pods = [];
  for (const n of c.nodes) pods.push(await c.addPod(n, "a"));
  await waitPath(c, "fastdp", false);
  for (const p of pods.slice(1)) {
    assert.ok(await talk(c, pods[0], p), `pods talk on the fast path (${p.name})`);
  }
  return pods;
}
