/** NetworkPolicy end to end (root) on the userspace data path: policed too, both ways. */
import { IS_ROOT } from "../harness/netns.ts";
import { Reachability } from "./matrix.ts";
import { withNpcCluster } from "./npc_cluster.ts";
import { expectMatrix, NAMESPACES } from "./npc_e2e_steps.ts";

Deno.test({
  name: "npc: the userspace data path is policed too, both ways",
  ignore: !IS_ROOT,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withNpcCluster({ nodes: 2, noFastdp: true, namespaces: NAMESPACES }, async (n) => {
      for (const ns of ["x", "y"]) {
        await n.addPod(0, ns, "a");
        await n.addPod(1, ns, "b");
      }
      const all = () => new Reachability(n.pods.map((p) => p.key), true);
      await expectMatrix(n, "no policy (userspace path)", all);
      n.putPolicy("x", "from-y", {
        podSelector: {},
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: "blue" } } }] }],
      });
      n.putPolicy("y", "only-to-a", {
        podSelector: { matchLabels: { pod: "b" } },
        policyTypes: ["Egress"],
        egress: [{ to: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: "a" } } }] }],
      });
      const yb = { namespace: "y", pod: "b" };
      await expectMatrix(
        n,
        "ingress into x from y, egress of y/b to pods a (userspace path)",
        () =>
          all()
            .expect({}, { namespace: "x" }, false)
            .expect({ namespace: "y" }, { namespace: "x" }, true)
            .expect(yb, {}, false)
            .expect(yb, { pod: "a" }, true),
      );
    });
  },
});
