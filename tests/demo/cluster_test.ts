import assert from "node:assert/strict";
import { Cluster, namespacesWithPrefix } from "../../cli/demo/cluster.ts";
import { ping } from "../../cli/demo/probes.ts";
import { IS_ROOT } from "../harness/netns.ts";
import { weavetsBin } from "../harness/binary.ts";
import { uniquePrefix } from "../e2e/e2e.ts";

const CONFLIST = {
  cniVersion: "1.0.0",
  name: "weavets",
  plugins: [{ type: "weavets" }],
};

Deno.test({
  name: "cluster: node namespaces reach each other over the underlay; teardown leaves nothing",
  ignore: !IS_ROOT,
  async fn() {
    const prefix = uniquePrefix();
    const workdir = await Deno.makeTempDir({ prefix: "wt-cluster-" });
    const c = Cluster.build({ prefix, nodes: 3, bin: weavetsBin(), workdir, conflist: CONFLIST });
    try {
      assert.equal(namespacesWithPrefix(prefix).length, 4);
      // A second cluster with the same names is refused, and says how to clean up.
      assert.throws(
        () => Cluster.build({ prefix, nodes: 1, bin: weavetsBin(), workdir, conflist: CONFLIST }),
        /already exist.*weavets demo down/,
      );
      const [a, , c3] = c.nodes;
      const r = await ping(a.netns, c3.underlayIp, 2000);
      assert.ok(r.ok, JSON.stringify(r));
      // A negative control: an address nobody has gets no answer.
      const none = await ping(a.netns, "198.18.0.250", 300);
      assert.equal(none.ok, false);
    } finally {
      await c.teardown();
    }
    assert.deepEqual(namespacesWithPrefix(prefix), []);
    await assert.rejects(Deno.stat(workdir));
  },
});
