import assert from "node:assert/strict";
import type { DaemonComponent } from "../../net/daemon/component.ts";
import { Registry } from "../../net/api/metrics.ts";
import { createDataplane } from "../../net/dataplane/dataplane.ts";

Deno.test("the data plane is a daemon component that reports not-ready before start", () => {
  const dp = createDataplane({ fastdp: false });
  const c: DaemonComponent = dp; // compile-time: fits the daemon's extension point
  assert.equal(c.name, "dataplane");
  assert.match(dp.ready() ?? "", /not set up/);
  assert.equal(dp.dataPath("02:00:00:00:00:01"), undefined);
  assert.deepEqual(dp.routes().map((r) => `${r.method} ${r.path}`), ["GET /status/dataplane"]);
  const reg = new Registry();
  dp.metrics(reg);
  assert.match(reg.render(), /weavets_dataplane_peers\{path="fastdp"\} 0/);
  assert.equal(dp.status().service, "dataplane");
  assert.equal(dp.report().ready, false);
});
