/**
 * Safe start with --kube: the weave-net pods on this node, read from the API (the fake API
 * server), make a live Weave Net; other nodes' pods, other pods and ended ones do not.
 */
import assert from "node:assert/strict";
import { KubeClient } from "../../net/kube/client.ts";
import { detectWeave } from "../../net/weave/detect.ts";
import { weavePodsOn } from "../../net/weave/observe.ts";
import { FakeApiServer, makePki } from "../kube/fake_apiserver.ts";

const pod = (
  name: string,
  node: string,
  phase: string,
  labels: Record<string, string> = { name: "weave-net" },
) => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: "kube-system", uid: crypto.randomUUID(), labels },
  spec: { nodeName: node, containers: [] },
  status: { phase },
});

Deno.test("safe start (--kube): a weave-net pod on this node is a live Weave Net", async () => {
  const pki = await makePki();
  const api = new FakeApiServer(pki);
  api.start();
  const client = new KubeClient({ server: api.url, caCerts: [pki.caCert], token: api.token });
  try {
    api.pods.put(pod("weave-net-abcde", "node-1", "Running"));
    api.pods.put(pod("weave-net-fghij", "node-2", "Running"));
    api.pods.put(pod("coredns-1", "node-1", "Running", { name: "coredns" }));
    api.pods.put({
      ...pod("weave-net-x", "node-1", "Running"),
      metadata: {
        name: "weave-net-x",
        namespace: "default",
        uid: "u",
        labels: { name: "weave-net" },
      },
    });
    const seen = await weavePodsOn(client, "node-1");
    assert.deepEqual(seen, [
      { namespace: "kube-system", name: "weave-net-abcde", phase: "Running", terminating: false },
    ]);
    const quiet = { links: [], sockets: [], processes: [], pods: seen };
    const v = detectWeave(quiet, []);
    assert.ok(v.alive);
    assert.deepEqual(v.evidence, ["pod kube-system/weave-net-abcde is on this node (Running)"]);
    // Ended: no longer live.
    api.pods.put(pod("weave-net-abcde", "node-1", "Succeeded"));
    assert.equal(
      detectWeave({ ...quiet, pods: await weavePodsOn(client, "node-1") }, []).alive,
      false,
    );
    assert.ok(api.requests.includes("GET /api/v1/namespaces/kube-system/pods"));
  } finally {
    client.close();
    await api.close();
  }
});
