import assert from "node:assert/strict";
import { z } from "zod";
import type { KubeClient } from "./client.ts";
import type { ListResult, WatchChange } from "./types.ts";
import { listWatch } from "./watch.ts";
import { Logger } from "../log.ts";
import { collectGarbage } from "../linux/memory.ts";

const quiet = new Logger({ sink: { write() {} } });
const schema = z.object({
  metadata: z.object({ name: z.string(), resourceVersion: z.string().optional() }),
});
type Obj = z.infer<typeof schema>;

const tick = () => new Promise((r) => setTimeout(r, 0));

Deno.test({
  name: "listWatch: the listed objects are not kept once the handler has them (while watching)",
  async fn() {
    let items: WeakRef<Obj[]> | undefined;
    const abort = new AbortController();
    const client = {
      list(): Promise<ListResult<Obj>> {
        const list = Array.from({ length: 1000 }, (_, i) => ({ metadata: { name: `o${i}` } }));
        items = new WeakRef(list);
        return Promise.resolve({ metadata: { resourceVersion: "1" }, items: list, invalid: 0 });
      },
      // A watch that waits for events until the test ends, as a quiet collection's does.
      // deno-lint-ignore require-yield
      async *watch(): AsyncGenerator<WatchChange<Obj>> {
        await new Promise((r) => abort.signal.addEventListener("abort", r));
      },
    } as unknown as KubeClient;
    let kept = 0;
    const lw = listWatch({
      client,
      path: "/api/v1/pods",
      schema,
      log: quiet,
      signal: abort.signal,
      // Like the policy controller: reads what it needs, keeps nothing of the list itself.
      handler: { replace: (xs) => void (kept = xs.length), upsert() {}, remove() {} },
    });
    try {
      await lw.synced;
      assert.equal(kept, 1000);
      // WeakRefs stay alive until the current job ends; collect in a later one.
      await tick();
      collectGarbage();
      await tick();
      assert.equal(items!.deref(), undefined, "the list is still reachable from the watch loop");
    } finally {
      abort.abort();
      await lw.done;
    }
  },
});
