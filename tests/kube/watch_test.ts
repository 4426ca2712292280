/**
 * net/kube/watch.ts against the TEST-DOUBLE API server: the first list (paginated), then changes
 * as they happen, a relist after the history is compacted (410), an object of unexpected shape
 * counted and skipped, and an API server that goes away and comes back.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { KubeClient } from "../../net/kube/client.ts";
import { listWatch } from "../../net/kube/watch.ts";
import { Logger } from "../../net/log.ts";
import { FakeApiServer, makePki } from "./fake_apiserver.ts";

const quiet = new Logger({ sink: { write() {} } });
const podSchema = z.object({
  metadata: z.object({
    name: z.string(),
    namespace: z.string(),
    resourceVersion: z.string(),
    labels: z.record(z.string(), z.string()).optional(),
  }),
});
type Pod = z.infer<typeof podSchema>;

async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const pod = (name: string, labels: Record<string, string> = {}) => ({
  metadata: { name, namespace: "ns", labels },
});

Deno.test({
  name: "listWatch: paginated list, changes, relist after compaction, bad objects, outages",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const pki = await makePki();
    const api = new FakeApiServer(pki);
    api.start();
    const client = new KubeClient({ server: api.url, token: api.token, caCerts: [pki.caCert] });
    const abort = new AbortController();
    const seen = new Map<string, Pod>();
    let replaced = 0;
    let invalid = 0;
    try {
      for (let i = 0; i < 1100; i++) api.pods.put(pod(`p${i}`));
      const lw = listWatch({
        client,
        path: "/api/v1/pods",
        schema: podSchema,
        log: quiet,
        signal: abort.signal,
        backoffBaseMs: 20,
        backoffCapMs: 100,
        handler: {
          replace(items) {
            replaced++;
            seen.clear();
            for (const p of items) seen.set(p.metadata.name, p);
          },
          upsert: (p) => void seen.set(p.metadata.name, p),
          remove: (p) => void seen.delete(p.metadata.name),
          invalid: (n) => void (invalid += n),
        },
      });
      await lw.synced;
      assert.equal(seen.size, 1100, "every page of the list");
      assert.ok(api.requests.filter((r) => r === "GET /api/v1/pods").length >= 3, "paginated");

      api.pods.put(pod("p1", { app: "web" }));
      api.pods.delete("ns", "p2");
      api.pods.put(pod("new"));
      await until(
        "the changes",
        () => seen.get("p1")?.metadata.labels?.app === "web" && !seen.has("p2") && seen.has("new"),
      );

      // A history the watch cannot resume from: 410, then a full list again.
      api.compact();
      api.pods.delete("ns", "p3");
      await until("the relist", () => replaced === 2 && !seen.has("p3"));

      // An object that does not fit the schema costs one count, not the watch.
      api.pods.put({ metadata: { name: "odd", namespace: 7 } });
      api.pods.put(pod("after-odd"));
      await until("the event after the odd one", () => seen.has("after-odd"));
      assert.equal(invalid, 1);
      assert.ok(!seen.has("odd"));

      // Away and back: what was known is kept meanwhile, changes made meanwhile arrive.
      await api.down();
      assert.ok(seen.has("p1"));
      api.pods.put(pod("while-down"));
      api.up();
      await until("the change made while down", () => seen.has("while-down"), 15_000);
    } finally {
      abort.abort();
      client.close();
      await api.close();
    }
  },
});
