/**
 * `--kube` peer keys against the TEST-DOUBLE API server: each peer publishes its key on its own
 * Node before anything else, every peer is told of every Node's claim (list and watch), and a
 * deleted Node's claim is handed over to be forgotten. No root needed.
 */
import assert from "node:assert/strict";
import { Logger } from "../../net/log.ts";
import { KubeClient, PEER_KEY_ANNOTATION, startKube } from "../../net/kube/mod.ts";
import type { Node } from "../../net/kube/types.ts";
import { FakeApiServer, makePki } from "./fake_apiserver.ts";

const quiet = new Logger({ sink: { write() {} } });

async function until(what: string, cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("kube: each peer publishes its key on its own Node; claims follow the Node list and watch", async () => {
  const pki = await makePki();
  const api = new FakeApiServer(pki);
  api.addNode("n1", "10.9.0.1");
  api.addNode("n2", "10.9.0.2");
  api.start();
  const stops: Array<() => Promise<void>> = [];
  const seen = new Map<string, Array<string | undefined>>();
  const deleted: string[] = [];
  try {
    for (const [node, peer] of [["n1", "0a:00:00:00:00:01"], ["n2", "0a:00:00:00:00:02"]]) {
      const client = new KubeClient({ server: api.url, caCerts: [pki.caCert], token: api.token });
      const claims: Array<string | undefined> = [];
      seen.set(node, claims);
      const h = await startKube({
        client,
        nodeName: node,
        peerName: peer,
        log: quiet,
        onTargets() {},
        rmpeer: () => Promise.resolve(0),
        resetLocalState: () => Promise.resolve(),
        networkReady: () => false,
        timing: { backoffBaseMs: 20, backoffCapMs: 200, reclaimJitterMs: 20, resyncMs: 60_000 },
        peerKeys: {
          claim: { peer, key: "k".repeat(43) },
          onNodes: (nodes: Node[]) =>
            claims.push(
              nodes.map((n) => n.metadata.annotations?.[PEER_KEY_ANNOTATION] ?? "-").join(" "),
            ),
          onNodeDeleted: (n: Node) => void deleted.push(n.metadata.name),
        },
      });
      stops.push(async () => {
        await h.stop();
        client.close();
      });
    }
    const ann = (n: string) => JSON.parse(api.node(n).metadata.annotations[PEER_KEY_ANNOTATION]);
    assert.deepEqual(ann("n1"), { peer: "0a:00:00:00:00:01", key: "k".repeat(43) });
    assert.deepEqual(ann("n2").peer, "0a:00:00:00:00:02");
    // The first peer published before it listed, and then saw the second one's claim by watch.
    const both = (c: Array<string | undefined>) =>
      c.at(-1)?.split(" ").every((x) => x.includes("0a:00:00:00:00:0")) ?? false;
    await until("n1 sees both claims", () => both(seen.get("n1")!));
    assert.ok(both(seen.get("n2")!), "n2 listed both");
    assert.ok(!seen.get("n1")![0]!.includes("0a:00:00:00:00:02"), "n1's first list had n2 bare");
    api.deleteNode("n2");
    await until("n1 told of the deletion", () => deleted.includes("n2"));
  } finally {
    for (const s of stops) await s();
    await api.close();
  }
});
