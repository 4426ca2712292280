/**
 * `startKube` reclaiming dead peers against the TEST-DOUBLE API server: one rmpeer per dead node
 * across racing peers, a failed rmpeer retried, 409 conflicts retried, fresh state for a peer
 * whose record was reclaimed. No root needed.
 */
import assert from "node:assert/strict";
import { PEERS_ANNOTATION } from "../../net/kube/mod.ts";
import {
  apiWith,
  lockAnnotations,
  type Peer,
  peersIn,
  startPeer,
  stopAll,
  until,
} from "./kube_fixture.ts";

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
