/**
 * NetworkPolicy end to end (root): two nodes with real daemons run with `--kube` against the
 * test-double API server, six pods in three namespaces (each namespace on both nodes) attached
 * through the CNI plugin, TCP and UDP servers on ports 80 and 81 in each. For each policy set,
 * every ordered pair of pods is probed for every protocol and port, and the result must equal the
 * expected table, written the way the upstream Kubernetes e2e tests (test/e2e/network/netpol)
 * write theirs. Changes of policies, pod labels and namespace labels must reach new connections
 * within 1 s. A stopped daemon leaves enforcement in place; a restarted one takes over without a
 * moment when a denied connection passes or an allowed one is dropped; a table deleted from
 * outside is loaded again.
 */
import assert from "node:assert/strict";
import { IS_ROOT } from "../harness/netns.ts";
import { Reachability } from "./matrix.ts";
import { withNpcCluster } from "./npc_cluster.ts";
import {
  addPods,
  CONVERGE_MS,
  convergence,
  expectMatrix,
  explained,
  NAMESPACES,
  stopAndRestart,
} from "./npc_e2e_steps.ts";

Deno.test({
  name: "npc: connectivity matrices of representative policies; changes within 1 s; restart",
  ignore: !IS_ROOT,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withNpcCluster({ nodes: 2, namespaces: NAMESPACES }, async (n) => {
      await addPods(n);
      const pods = n.pods.map((p) => p.key);
      const all = () => new Reachability(pods, true);
      const x = { namespace: "x" };
      const none = () => {
        for (const p of n.api.networkPolicies.all()) {
          n.deletePolicy(p.metadata.namespace, p.metadata.name);
        }
      };
      await expectMatrix(n, "no policy", all);

      // Upstream: "should support a 'default-deny-ingress' policy".
      n.putPolicy("x", "deny", { podSelector: {} });
      await expectMatrix(n, "default-deny ingress in x", () => all().expect({}, x, false));
      await explained(n);

      // Upstream: "...allow traffic only from a different namespace, based on NamespaceSelector".
      n.putPolicy("x", "from-y", {
        podSelector: {},
        ingress: [{
          from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "y" } } }],
        }],
      });
      await expectMatrix(
        n,
        "allow into x from namespace y",
        () => all().expect({}, x, false).expect({ namespace: "y" }, x, true),
      );

      // Upstream: "...PodSelector and NamespaceSelector" (both in one peer), and Ports.
      none();
      n.putPolicy("x", "b-pods-on-80", {
        podSelector: { matchLabels: { pod: "a" } },
        ingress: [{
          from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: "b" } } }],
          ports: [{ port: 80 }],
        }],
      });
      await expectMatrix(n, "allow into x/a from pods b of any namespace on TCP 80", (c) => {
        const r = all().expect({}, { namespace: "x", pod: "a" }, false);
        return c.proto === "TCP" && c.port === 80
          ? r.expect({ pod: "b" }, { namespace: "x", pod: "a" }, true)
          : r;
      });

      // Upstream: "should allow ingress access on one named port" (by name and protocol).
      none();
      n.putPolicy("x", "named", {
        podSelector: {},
        ingress: [{ ports: [{ port: "serve-80-tcp" }, { protocol: "UDP", port: "serve-81-udp" }] }],
      });
      await expectMatrix(
        n,
        "named ports serve-80-tcp and serve-81-udp into x",
        (c) =>
          (c.proto === "TCP" && c.port === 80) || (c.proto === "UDP" && c.port === 81)
            ? all()
            : all().expect({}, x, false),
      );

      // endPort: a range of ports of one protocol.
      none();
      n.putPolicy("y", "range", {
        podSelector: { matchLabels: { pod: "a" } },
        ingress: [{
          from: [{ namespaceSelector: { matchLabels: { team: "red" } } }],
          ports: [{ protocol: "TCP", port: 80, endPort: 81 }],
        }],
      });
      const ya = { namespace: "y", pod: "a" };
      await expectMatrix(n, "TCP 80-81 (endPort) into y/a from the red namespaces", (c) => {
        const r = all().expect({}, ya, false);
        return c.proto === "TCP" ? r.expect(x, ya, true).expect({ namespace: "z" }, ya, true) : r;
      });

      // Upstream: "should enforce except clause while egress access to server in CIDR block".
      none();
      n.putPolicy("z", "egress-block", {
        podSelector: { matchLabels: { pod: "a" } },
        policyTypes: ["Egress"],
        egress: [{
          to: [{ ipBlock: { cidr: "10.32.0.0/12", except: [`${n.pod("x/b").ip}/32`] } }],
        }],
      });
      await expectMatrix(
        n,
        "egress of z/a to the pod range except x/b",
        () => all().expect({ namespace: "z", pod: "a" }, { namespace: "x", pod: "b" }, false),
      );

      // Upstream: "should deny egress from all pods in a namespace".
      none();
      n.putPolicy("z", "deny-egress", { podSelector: {}, policyTypes: ["Egress"] });
      await expectMatrix(
        n,
        "default-deny egress in z",
        () => all().expect({ namespace: "z" }, {}, false),
      );

      // Changes take effect on every node within 1 s (cross-node pairs: each node enforces its
      // own pods' side).
      none();
      await expectMatrix(n, "no policy again", all);
      const [xa, xb, yb, za, zb] = ["x/a", "x/b", "y/b", "z/a", "z/b"].map((k) => n.pod(k));
      const times: number[] = [];
      times.push(
        await convergence(
          n,
          "policy created (deny into x)",
          () => n.putPolicy("x", "deny", { podSelector: {} }),
          za,
          xb,
          80,
          false,
        ),
      );
      times.push(
        await convergence(
          n,
          "policy updated (allow pod=b on 80)",
          () =>
            n.putPolicy("x", "deny", {
              podSelector: {},
              ingress: [{
                from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: "b" } } }],
                ports: [{ port: 80 }],
              }],
            }),
          zb,
          xa,
          80,
          true,
        ),
      );
      times.push(
        await convergence(
          n,
          "pod label changed (z/a becomes pod=b)",
          () => n.setPodLabels("z/a", { pod: "b" }),
          za,
          xb,
          80,
          true,
        ),
      );
      times.push(
        await convergence(
          n,
          "pod label changed back",
          () => n.setPodLabels("z/a", { pod: "a" }),
          za,
          xb,
          80,
          false,
        ),
      );
      n.putPolicy("x", "deny", {
        podSelector: {},
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: "green" } } }] }],
      });
      await expectMatrix(
        n,
        "allow into x from team green (none yet)",
        () => all().expect({}, x, false),
      );
      times.push(
        await convergence(
          n,
          "namespace label changed (y becomes team green)",
          () => n.api.putNamespace("y", { team: "green" }),
          yb,
          xa,
          81,
          true,
        ),
      );
      times.push(
        await convergence(n, "policy deleted", () => n.deletePolicy("x", "deny"), za, xa, 80, true),
      );
      assert.ok(Math.max(...times) <= CONVERGE_MS, `changes took ${times.join(", ")} ms`);

      await stopAndRestart(n, all);
    });
  },
});
