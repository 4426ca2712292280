/**
 * `weavets daemon --kube` against a local TEST-DOUBLE API server (fake_apiserver.ts, HTTPS on
 * 127.0.0.1 with a throwaway CA): the client, peers follow nodes, an unreachable API server
 * retried without dropping peers, the node condition. No root needed. The removal of dead peers
 * and reclaimed records: kube_reclaim_test.ts.
 */
import assert from "node:assert/strict";
import {
  KubeApiError,
  KubeClient,
  KubeUnreachableError,
  PEERS_ANNOTATION,
} from "../../net/kube/mod.ts";
import { apiWith, FAST, type Peer, pki, startPeer, stopAll, until } from "./kube_fixture.ts";

Deno.test("kube client: the configured CA is honoured, the token sent, API errors typed", async () => {
  const api = await apiWith([["n1", "192.0.2.1"]]);
  const good = new KubeClient({
    server: api.url,
    caCerts: [(await pki()).caCert],
    token: api.token,
  });
  const untrusting = new KubeClient({ server: api.url, token: api.token }); // system roots only
  const anonymous = new KubeClient({ server: api.url, caCerts: [(await pki()).caCert] });
  try {
    const list = await good.listNodes();
    assert.deepEqual(list.items.map((n) => n.metadata.name), ["n1"]);
    assert.ok(Number(list.metadata.resourceVersion) > 0);
    await assert.rejects(untrusting.listNodes(), KubeUnreachableError);
    await assert.rejects(anonymous.listNodes(), (e) => {
      assert.ok(e instanceof KubeApiError);
      assert.equal(e.status, 401);
      assert.match(e.message, /check the weavets ServiceAccount/);
      return true;
    });
    // Optimistic concurrency: an update from a stale read is refused with 409.
    const cm = await good.getConfigMap("kube-system", "weavets");
    await good.updateConfigMap({ ...cm, data: { a: "1" } });
    await assert.rejects(good.updateConfigMap({ ...cm, data: { a: "2" } }), (e) => {
      assert.ok(e instanceof KubeApiError && e.status === 409);
      return true;
    });
    // Fields the client does not model survive a read-modify-write.
    assert.deepEqual(api.configMap().metadata.labels, { "app.kubernetes.io/name": "weavets" });
  } finally {
    for (const c of [good, untrusting, anonymous]) c.close();
    await api.close();
  }
});

Deno.test("kube: peers follow node adds and removes; own node excluded; InternalIP then ExternalIP", async () => {
  const api = await apiWith([["a", "192.0.2.1"], ["b", "192.0.2.2"], ["c", "192.0.2.3"]]);
  const peers: Peer[] = [];
  try {
    const pa = await startPeer(api, "aa:00:00:00:00:01", "a");
    peers.push(pa);
    // Reported before startKube resolved: the mesh has its targets before IPAM starts.
    assert.deepEqual(pa.targets, [["192.0.2.2", "192.0.2.3"]]);
    api.addNode("d", undefined, "198.51.100.4"); // no InternalIP: its ExternalIP
    await until("d dialled", () => pa.targets.at(-1)?.includes("198.51.100.4") ?? false);
    api.deleteNode("c");
    await until("c dropped", () => !pa.targets.at(-1)?.includes("192.0.2.3"));
    assert.deepEqual(pa.targets.at(-1), ["192.0.2.2", "198.51.100.4"]);
    // An expired watch (410 Gone) is followed by a fresh list: nothing is missed meanwhile.
    api.compact();
    api.addNode("e", "192.0.2.5");
    await until("e dialled after re-list", () => pa.targets.at(-1)?.includes("192.0.2.5") ?? false);
    assert.ok(pa.logs.lines.some((l) => l.msg === "node watch expired; listing again"));
    assert.ok(api.requests.filter((r) => r === "GET /api/v1/nodes").length >= 2);
    // One structured line per event, and never the token.
    assert.ok(pa.logs.lines.every((l) => typeof l.msg === "string" && l.component === "kube"));
    assert.ok(pa.logs.raw.every((l) => !l.includes(api.token)));
  } finally {
    await stopAll(api, peers);
  }
});

Deno.test("kube: an unreachable API server is retried with backoff; peers are kept", async () => {
  const api = await apiWith([["a", "192.0.2.1"], ["b", "192.0.2.2"], ["c", "192.0.2.3"]]);
  api.setAnnotations({
    [PEERS_ANNOTATION]: JSON.stringify({
      peers: [
        { peerName: "aa:00:00:00:00:01", nodeName: "a" },
        { peerName: "aa:00:00:00:00:03", nodeName: "c" },
      ],
    }),
  });
  const peers: Peer[] = [];
  try {
    const pa = await startPeer(api, "aa:00:00:00:00:01", "a");
    peers.push(pa);
    assert.deepEqual(pa.targets, [["192.0.2.2", "192.0.2.3"]]);
    await api.down();
    await until(
      "several retries",
      () =>
        pa.logs.lines.filter((l) => String(l.msg).startsWith("Kubernetes API unavailable"))
          .length >= 4,
    );
    const delays = pa.logs.lines
      .filter((l) => String(l.msg).startsWith("Kubernetes API unavailable"))
      .map((l) => l.retryInMs as number);
    // Exponential: each delay at least ~1.5x the first until the cap (jitter takes up to 25 %).
    assert.ok(delays[3] > delays[0] * 1.5, `delays grow: ${delays.join(", ")}`);
    assert.ok(delays.every((d) => d <= FAST.backoffCapMs));
    // The API server being away says nothing about the nodes: the peers stay.
    assert.deepEqual(pa.targets, [["192.0.2.2", "192.0.2.3"]]);
    assert.deepEqual(pa.rmpeers, []);

    // While it was away, node c was deleted; back up, the peer catches up.
    api.deleteNode("c");
    api.up();
    await until("c dropped after recovery", () => pa.targets.length === 2);
    assert.deepEqual(pa.targets.at(-1), ["192.0.2.2"]);
    await until("c's peer reclaimed", () => pa.rmpeers.length === 1);
    assert.deepEqual(pa.rmpeers, ["aa:00:00:00:00:03"]);
  } finally {
    await stopAll(api, peers);
  }
});

Deno.test("kube: startKube waits out an API server that is down at start", async () => {
  const api = await apiWith([["a", "192.0.2.1"], ["b", "192.0.2.2"]]);
  const peers: Peer[] = [];
  try {
    await api.down();
    const starting = startPeer(api, "aa:00:00:00:00:01", "a");
    await new Promise((r) => setTimeout(r, 150));
    api.up();
    const pa = await starting;
    peers.push(pa);
    assert.deepEqual(pa.targets, [["192.0.2.2"]]);
    assert.ok(pa.logs.lines.some((l) => l.msg === "read peer list failed; retrying"));
  } finally {
    await stopAll(api, peers);
  }
});

Deno.test("kube: NetworkUnavailable=False (WeavetsIsUp) once the network is up", async () => {
  const api = await apiWith([["a", "192.0.2.1"]]);
  const peers: Peer[] = [];
  try {
    const pa = await startPeer(api, "aa:00:00:00:00:01", "a", { ready: false });
    peers.push(pa);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(api.statusPatches.length, 0, "not before the network is up");
    pa.ready = true;
    await until("condition patched", () => api.statusPatches.length === 1);
    const cond = api.node("a").status.conditions.find((c: { type: string }) =>
      c.type === "NetworkUnavailable"
    );
    assert.equal(cond.status, "False");
    assert.equal(cond.reason, "WeavetsIsUp");
    assert.equal(api.statusPatches[0].contentType, "application/strategic-merge-patch+json");
    // The other conditions are untouched (merged by type).
    assert.ok(api.node("a").status.conditions.some((c: { type: string }) => c.type === "Ready"));
  } finally {
    await stopAll(api, peers);
  }
});
