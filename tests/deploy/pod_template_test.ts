/**
 * The pod template's translation into podman runs (pod_template.ts), on the shipped manifest and
 * on edited copies of it: what it produces, and that what it cannot translate fails loudly.
 */
import assert from "node:assert/strict";
import { REPO_ROOT } from "../harness/binary.ts";
import { daemonSetOf, type NodeContext, podRun, SERVICE_ACCOUNT_MOUNT } from "./pod_template.ts";

const MANIFEST = Deno.readTextFileSync(`${REPO_ROOT}/deploy/weavets.yaml`);
const CTX: NodeContext = {
  nodeName: "node-1",
  netnsPath: "/run/netns/n1",
  hostRoot: "/tmp/root",
  image: "localhost/wt:test",
  serviceAccountDir: "/tmp/sa",
  kubeletEnv: { KUBERNETES_SERVICE_HOST: "198.18.0.1", KUBERNETES_SERVICE_PORT: "443" },
  namePrefix: "wtd",
};

function pair(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1]] : []));
}

Deno.test("pod template: the shipped DaemonSet as podman runs", () => {
  const pod = podRun(daemonSetOf(MANIFEST), CTX);
  assert.deepEqual(pod.init.map((c) => c.name), ["wtd-install-cni", "wtd-reset-weave"]);
  assert.deepEqual(pod.containers.map((c) => c.name), ["wtd-weavets"]);
  // Every hostPath is served under the test's root, never the machine's own paths.
  for (const v of pod.volumes) assert.equal(v.hostDir, `/tmp/root${v.path}`);
  assert.ok(pod.volumes.some((v) => v.path === "/opt/cni/bin"));

  const init = pod.init[0].args;
  assert.equal(init[0], "run");
  assert.ok(init.includes("--read-only") && init.includes("--rm"));
  assert.ok(!init.includes("--privileged"));
  assert.deepEqual(pair(init, "--network"), ["ns:/run/netns/n1"]);
  assert.ok(pair(init, "--volume").includes("/tmp/root/opt/cni/bin:/host/opt/cni/bin:rw"));
  assert.ok(pair(init, "--env").includes("CNI_BIN_DIR=/host/opt/cni/bin"));
  assert.deepEqual(pair(init, "--entrypoint"), ['["/usr/local/bin/weavets-install-cni"]']);

  // Weave Net's leftovers removed before the daemon starts (privileged: iptables, links).
  const reset = pod.init[1].args;
  assert.ok(reset.includes("--privileged"));
  assert.match(reset.join(" "), /weavets reset --weave --cni-conf-dir=\/host\/etc\/cni\/net\.d/);

  const main = pod.containers[0];
  assert.ok(main.args.includes("--privileged") && main.args.includes("--detach"));
  assert.deepEqual(pair(main.args, "--pid"), ["host"]);
  const env = pair(main.args, "--env");
  assert.ok(env.includes("NODE_NAME=node-1"), "fieldRef spec.nodeName resolved");
  assert.ok(env.includes("KUBERNETES_SERVICE_HOST=198.18.0.1"));
  const vols = pair(main.args, "--volume");
  assert.ok(vols.includes("/tmp/root/run/netns:/run/netns:rw,rslave"), vols.join(" "));
  assert.ok(vols.includes("/tmp/root/etc/machine-id:/etc/machine-id:ro"));
  assert.ok(vols.includes(`/tmp/sa:${SERVICE_ACCOUNT_MOUNT}:ro`));
  // The image, then the manifest's args: the shell line that starts the daemon.
  const at = main.args.indexOf("localhost/wt:test");
  assert.match(main.args[at + 1], /^exec \/usr\/local\/bin\/weavets daemon --kube/);
  assert.equal(main.readiness?.url, "http://127.0.0.1:6784/status");
  assert.equal(main.liveness?.url, "http://127.0.0.1:6784/status/peers");
});

Deno.test("pod template: what cannot be translated fails, naming the field", () => {
  const edit = (f: (spec: Record<string, unknown> & { containers: unknown[] }) => void) => {
    const ds = daemonSetOf(MANIFEST);
    f(ds.spec.template.spec);
    return () => podRun(ds, CTX);
  };
  assert.throws(edit((s) => (s.hostAliases = [])), /field "hostAliases"/);
  assert.throws(edit((s) => (s.hostNetwork = false)), /hostNetwork/);
  assert.throws(
    edit((s) => (s.volumes = [{ name: "x", emptyDir: {} }])),
    /only hostPath volumes/,
  );
  assert.throws(
    edit((s) => ((s.containers[0] as Record<string, unknown>).ports = [])),
    /container weavets: field "ports"/,
  );
  assert.throws(
    edit((s) => ((s.containers[0] as Record<string, unknown>).imagePullPolicy = "Always")),
    /needs a registry/,
  );
  assert.throws(
    edit((s) => {
      const c = s.containers[0] as { env: unknown[] };
      c.env.push({ name: "X", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } });
    }),
    /env X/,
  );
  assert.throws(() => daemonSetOf("kind: ConfigMap\n"), /no DaemonSet weavets/);
});
