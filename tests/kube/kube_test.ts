/**
 * `weavets daemon --kube` against a local TEST-DOUBLE API server (fake_apiserver.ts, HTTPS on
 * 127.0.0.1 with a throwaway CA): peers follow nodes, one rmpeer per dead node across racing
 * peers, 409 conflicts retried, an unreachable API server retried without dropping peers, the node
 * condition, and fresh state for a peer that was reclaimed. No root needed.
 */
import assert from "node:assert/strict";
import { Logger } from "../../net/log.ts";
import {
  KubeApiError,
  KubeClient,
  type KubeHandle,
  KubeUnreachableError,
  PEERS_ANNOTATION,
  startKube,
} from "../../net/kube/mod.ts";
import { FakeApiServer, makePki, type Pki } from "./fake_apiserver.ts";

let pkiCache: Promise<Pki> | undefined;
const pki = () => (pkiCache ??= makePki());

const FAST = {
  backoffBaseMs: 20,
  backoffCapMs: 200,
  reclaimJitterMs: 20,
  resyncMs: 500,
  readyPollMs: 10,
};

/** Captures log lines as parsed JSON. */
function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const log = new Logger({
    json: true,
    level: "debug",
    sink: {
      write(l) {
        raw.push(l);
        lines.push(JSON.parse(l));
      },
    },
  });
  return { log, lines, raw };
}

async function until(what: string, cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Peer {
  name: string;
  node: string;
  targets: string[][];
  rmpeers: string[];
  resets: number;
  ready: boolean;
  client: KubeClient;
  handle?: KubeHandle;
  logs: ReturnType<typeof capture>;
}

async function startPeer(
  api: FakeApiServer,
  name: string,
  node: string,
  opts: { rmpeer?: (p: string) => Promise<number>; ready?: boolean } = {},
): Promise<Peer> {
  const p: Peer = {
    name,
    node,
    targets: [],
    rmpeers: [],
    resets: 0,
    ready: opts.ready ?? true,
    client: new KubeClient({ server: api.url, caCerts: [(await pki()).caCert], token: api.token }),
    logs: capture(),
  };
  p.handle = await startKube({
    client: p.client,
    nodeName: node,
    peerName: name,
    log: p.logs.log,
    onTargets: (t) => p.targets.push(t),
    rmpeer: async (dead) => {
      p.rmpeers.push(dead);
      return await (opts.rmpeer?.(dead) ?? Promise.resolve(7));
    },
    resetLocalState: () => {
      p.resets++;
      return Promise.resolve();
    },
    networkReady: () => p.ready,
    timing: FAST,
  });
  return p;
}

async function stopAll(api: FakeApiServer, peers: Peer[]): Promise<void> {
  for (const p of peers) {
    await p.handle?.stop();
    p.client.close();
  }
  await api.close();
}

async function apiWith(nodes: Array<[string, string]>): Promise<FakeApiServer> {
  const api = new FakeApiServer(await pki());
  for (const [n, ip] of nodes) api.addNode(n, ip);
  api.start();
  return api;
}

function peersIn(api: FakeApiServer): string[] {
  const raw = api.configMap().metadata.annotations?.[PEERS_ANNOTATION];
  return raw
    ? JSON.parse(raw).peers.map((p: { peerName: string; nodeName: string }) =>
      `${p.peerName}@${p.nodeName}`
    )
    : [];
}

function lockAnnotations(api: FakeApiServer): string[] {
  return Object.keys(api.configMap().metadata.annotations ?? {}).filter((k) =>
    k.includes("reclaim-")
  );
}

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

Deno.test("kube: a node delete triggers exactly one rmpeer across three racing peers", async () => {
  const nodes: Array<[string, string]> = [["a", "192.0.2.1"], ["b", "192.0.2.2"], [
    "c",
    "192.0.2.3",
  ]];
  const victims = ["v1", "v2", "v3", "v4"];
  victims.forEach((v, i) => nodes.push([v, `192.0.2.${10 + i}`]));
  const api = await apiWith(nodes);
  api.setAnnotations({
    [PEERS_ANNOTATION]: JSON.stringify({
      peers: victims.map((v, i) => ({ peerName: `dd:00:00:00:00:0${i}`, nodeName: v })),
    }),
  });
  const peers: Peer[] = [];
  try {
    // rmpeer takes a little while, so the others see the lock while it is held.
    const slow = () => new Promise<number>((r) => setTimeout(() => r(42), 30));
    peers.push(
      ...await Promise.all([
        startPeer(api, "aa:00:00:00:00:01", "a", { rmpeer: slow }),
        startPeer(api, "aa:00:00:00:00:02", "b", { rmpeer: slow }),
        startPeer(api, "aa:00:00:00:00:03", "c", { rmpeer: slow }),
      ]),
    );
    for (const v of victims) api.deleteNode(v);
    const all = () => peers.flatMap((p) => p.rmpeers);
    await until("every dead peer reclaimed", () => peersIn(api).length === 3);
    // Let the resync passes (every 500 ms) run too: they must not reclaim anything again.
    await new Promise((r) => setTimeout(r, 700));
    assert.deepEqual(all().sort(), victims.map((_, i) => `dd:00:00:00:00:0${i}`));
    assert.deepEqual(peersIn(api), [
      "aa:00:00:00:00:01@a",
      "aa:00:00:00:00:02@b",
      "aa:00:00:00:00:03@c",
    ]);
    assert.deepEqual(lockAnnotations(api), []);
    assert.ok(api.conflicts.real > 0, "the peers did race on the ConfigMap");
    const reclaimed = peers.flatMap((p) =>
      p.logs.lines.filter((l) => l.msg === "dead peer reclaimed")
    );
    assert.equal(reclaimed.length, victims.length);
    assert.ok(reclaimed.every((l) => l.ips === 42));
  } finally {
    await stopAll(api, peers);
  }
});

Deno.test("kube: a failed rmpeer releases the lock and is retried", async () => {
  const api = await apiWith([["a", "192.0.2.1"], ["gone", "192.0.2.9"]]);
  api.setAnnotations({
    [PEERS_ANNOTATION]: JSON.stringify({
      peers: [{ peerName: "dd:00:00:00:00:09", nodeName: "gone" }],
    }),
  });
  const peers: Peer[] = [];
  try {
    let calls = 0;
    const flaky = () =>
      ++calls === 1 ? Promise.reject(new Error("daemon busy")) : Promise.resolve(3);
    peers.push(await startPeer(api, "aa:00:00:00:00:01", "a", { rmpeer: flaky }));
    api.deleteNode("gone");
    await until("reclaimed on the second try", () => peersIn(api).length === 1);
    assert.equal(calls, 2);
    assert.deepEqual(lockAnnotations(api), []);
    assert.ok(peers[0].logs.lines.some((l) => l.msg === "rmpeer failed; releasing the lock"));
  } finally {
    await stopAll(api, peers);
  }
});

Deno.test("kube: a 409 conflict on the peer list is retried", async () => {
  const api = await apiWith([["a", "192.0.2.1"]]);
  const peers: Peer[] = [];
  try {
    api.forceConflicts(2);
    peers.push(await startPeer(api, "aa:00:00:00:00:01", "a"));
    assert.equal(api.conflicts.forced, 2);
    assert.deepEqual(peersIn(api), ["aa:00:00:00:00:01@a"]);
    assert.deepEqual(
      api.requests.filter((r) => r.startsWith("PUT configmap")),
      ["PUT configmap -> 409", "PUT configmap -> 409", "PUT configmap -> 200"],
    );
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

Deno.test("kube: a restarted peer whose record was reclaimed starts fresh; a listed one does not", async () => {
  const api = await apiWith([["a", "192.0.2.1"], ["b", "192.0.2.2"]]);
  const peers: Peer[] = [];
  try {
    // First deployment: empty list, nothing to forget.
    const first = await startPeer(api, "aa:00:00:00:00:01", "a");
    peers.push(first);
    assert.equal(first.resets, 0);
    // b's peer, absent from a list others wrote (its record was reclaimed): fresh state.
    const pb = await startPeer(api, "aa:00:00:00:00:02", "b");
    peers.push(pb);
    assert.equal(pb.resets, 1);
    assert.ok(
      pb.logs.lines.findIndex((l) => String(l.msg).startsWith("peer not in the peer list")) <
        pb.logs.lines.findIndex((l) => l.msg === "peer added to the peer list"),
    );
    // Restarted while listed: keeps its state.
    await pb.handle!.stop();
    pb.client.close();
    const again = await startPeer(api, "aa:00:00:00:00:02", "b");
    peers.push(again);
    assert.equal(again.resets, 0);
    assert.deepEqual(peersIn(api), ["aa:00:00:00:00:01@a", "aa:00:00:00:00:02@b"]);
  } finally {
    await stopAll(api, peers);
  }
});

Deno.test("kube: a peer reclaimed by another while running says to restart it", async () => {
  const api = await apiWith([["a", "192.0.2.1"], ["b", "192.0.2.2"]]);
  const peers: Peer[] = [];
  try {
    const pa = await startPeer(api, "aa:00:00:00:00:01", "a");
    peers.push(pa);
    api.setAnnotations({ [PEERS_ANNOTATION]: JSON.stringify({ peers: [] }) });
    await until("error logged", () => pa.logs.lines.some((l) => l.level === "error"), 3_000);
    const line = pa.logs.lines.find((l) => l.level === "error")!;
    assert.match(String(line.msg), /restart the weavets pod/);
    assert.equal(line.peerName, "aa:00:00:00:00:01");
  } finally {
    await stopAll(api, peers);
  }
});
