/**
 * deploy/weavets.yaml: valid against the Kubernetes API schemas (a typo fails here, not at
 * `kubectl apply`), least-privilege RBAC, and the DaemonSet the issue specifies. The daemon's shell
 * command line is run with a stub binary to prove how the Weave-style env becomes flags.
 */
import assert from "node:assert/strict";
import { parseDaemonConfig } from "../../net/daemon/config.ts";
import { REPO_ROOT } from "../harness/binary.ts";
import { VERSION } from "../../version.ts";
import { type Doc, parseManifest, schemaErrors, typeCheckErrors } from "./k8s_schema.ts";

const MANIFEST = `${REPO_ROOT}/deploy/weavets.yaml`;
const text = Deno.readTextFileSync(MANIFEST);

// deno-lint-ignore no-explicit-any
type Any = any;

function find(docs: Doc[], kind: string, name = "weavets"): Any {
  const found = docs.filter((d) => d.kind === kind && (d.metadata as Any)?.name === name);
  assert.equal(found.length, 1, `exactly one ${kind} ${name}`);
  return found[0];
}

function daemonSet(docs = parseManifest(text)): Any {
  return find(docs, "DaemonSet");
}

/** A copy of the manifest's documents with `edit` applied to the DaemonSet's pod spec. */
function withPodSpec(edit: (spec: Any) => void): Doc[] {
  const docs = parseManifest(text);
  edit(daemonSet(docs).spec.template.spec);
  return docs;
}

Deno.test("manifest: every document is valid against the Kubernetes API schema", () => {
  const docs = parseManifest(text);
  assert.deepEqual(
    docs.map((d) => d.kind).sort(),
    [
      "ClusterRole",
      "ClusterRoleBinding",
      "ConfigMap",
      "DaemonSet",
      "Role",
      "RoleBinding",
      "Secret",
      "ServiceAccount",
      "ValidatingAdmissionPolicy",
      "ValidatingAdmissionPolicyBinding",
    ],
  );
  assert.deepEqual(schemaErrors(docs), []);
});

Deno.test("manifest: no field unknown to the API (strict field validation)", async () => {
  assert.deepEqual(await typeCheckErrors(parseManifest(text)), []);
});

Deno.test("manifest: a misspelt field fails validation (hostNetwrk)", async () => {
  const docs = withPodSpec((spec) => {
    delete spec.hostNetwork;
    spec.hostNetwrk = true;
  });
  const errors = await typeCheckErrors(docs);
  assert.equal(errors.length > 0, true, "a typo must fail");
  assert.match(errors.join("\n"), /hostNetwrk/);
});

Deno.test("manifest: a value of the wrong type fails validation", () => {
  const docs = withPodSpec((spec) => {
    spec.hostNetwork = "yes";
    spec.containers[0].livenessProbe.httpGet.port = { port: 6784 };
  });
  const errors = schemaErrors(docs).join("\n");
  assert.match(errors, /hostNetwork must be boolean/);
  assert.match(errors, /DaemonSet weavets/);
});

Deno.test("manifest: a missing required field and an unknown kind fail validation", () => {
  const docs = withPodSpec((spec) => delete spec.containers[0].name);
  docs.push({ apiVersion: "v1", kind: "Podd", metadata: { name: "x" } });
  const errors = schemaErrors(docs).join("\n");
  assert.match(errors, /containers\/0 must have required property name/);
  assert.match(errors, /unsupported apiVersion\/kind "v1\/Podd"/);
});

Deno.test("manifest: RBAC grants only what weavets uses", () => {
  const docs = parseManifest(text);
  const sa = find(docs, "ServiceAccount");
  assert.equal(sa.metadata.namespace, "kube-system");
  assert.deepEqual(find(docs, "ClusterRole").rules, [
    { apiGroups: [""], resources: ["nodes"], verbs: ["get", "list", "watch", "patch"] },
    { apiGroups: [""], resources: ["nodes/status"], verbs: ["patch"] },
    { apiGroups: [""], resources: ["pods", "namespaces"], verbs: ["get", "list", "watch"] },
    {
      apiGroups: ["networking.k8s.io"],
      resources: ["networkpolicies"],
      verbs: ["get", "list", "watch"],
    },
  ]);
  // `patch` on nodes is narrowed by the admission policy: its own Node, its own annotation.
  const vap = find(docs, "ValidatingAdmissionPolicy");
  assert.deepEqual(vap.spec.matchConstraints.resourceRules[0].resources, ["nodes"]);
  assert.match(vap.spec.matchConditions[0].expression, /system:serviceaccount:kube-system:weavets/);
  assert.deepEqual(find(docs, "ValidatingAdmissionPolicyBinding").spec, {
    policyName: "weavets",
    validationActions: ["Deny"],
  });
  const role = find(docs, "Role");
  assert.equal(role.metadata.namespace, "kube-system");
  assert.deepEqual(role.rules, [
    {
      apiGroups: [""],
      resources: ["configmaps"],
      resourceNames: ["weavets"],
      verbs: ["get", "update"],
    },
    {
      apiGroups: [""],
      resources: ["secrets"],
      resourceNames: ["weavets-cluster-secret"],
      verbs: ["get", "update"],
    },
    {
      apiGroups: [""],
      resources: ["secrets"],
      resourceNames: ["weavets-passwd", "weave-passwd"],
      verbs: ["get"],
    },
  ]);
  // No rule may create Secrets: RBAC cannot limit `create` to a name, so the cluster secret's
  // Secret ships with the manifest, empty, and every Secret rule names its Secrets.
  for (const r of role.rules.filter((r: Any) => r.resources.includes("secrets"))) {
    assert.ok(!r.verbs.includes("create") && !r.verbs.includes("list") && r.resourceNames.length);
  }
  const secret = find(docs, "Secret", "weavets-cluster-secret");
  assert.deepEqual(
    [secret.metadata.name, secret.metadata.namespace, secret.data],
    ["weavets-cluster-secret", "kube-system", undefined],
    "shipped empty: the first daemon fills it",
  );
  // The ConfigMap the Role names ships with the manifest: no `create` right is needed.
  assert.equal(find(docs, "ConfigMap").metadata.namespace, "kube-system");
  for (
    const [binding, roleKind] of [["ClusterRoleBinding", "ClusterRole"], ["RoleBinding", "Role"]]
  ) {
    const b = find(docs, binding);
    assert.deepEqual(b.roleRef, {
      apiGroup: "rbac.authorization.k8s.io",
      kind: roleKind,
      name: "weavets",
    });
    assert.deepEqual(b.subjects, [{
      kind: "ServiceAccount",
      name: "weavets",
      namespace: "kube-system",
    }]);
  }
  assert.equal(daemonSet(docs).spec.template.spec.serviceAccountName, "weavets");
});

Deno.test("manifest: the DaemonSet runs one privileged host-network peer on every node", () => {
  const ds = daemonSet();
  assert.equal(ds.metadata.namespace, "kube-system");
  assert.equal(ds.spec.updateStrategy.type, "RollingUpdate");
  const spec = ds.spec.template.spec;
  assert.equal(spec.hostNetwork, true);
  assert.equal(spec.hostPID, true, "the CNI socket's namespace paths can be /proc/PID/ns/net");
  assert.equal(spec.dnsPolicy, "ClusterFirstWithHostNet");
  assert.equal(spec.priorityClassName, "system-node-critical");
  // `operator: Exists` with no key and no effect tolerates every taint.
  assert.deepEqual(spec.tolerations, [{ operator: "Exists" }]);
  const [daemon] = spec.containers;
  assert.equal(spec.containers.length, 1);
  assert.equal(daemon.securityContext.privileged, true);
  assert.ok(daemon.resources.requests.cpu && daemon.resources.requests.memory);
  // Every container uses the one image value, tagged with the product version.
  const [init, reset] = spec.initContainers;
  assert.equal(init.image, daemon.image);
  assert.equal(reset.image, daemon.image);
  assert.equal(daemon.image.split(":").at(-1), VERSION);
  const written = text.match(/^\s*image: .*$/gm) ?? [];
  assert.deepEqual(written.map((l) => l.trim().split(" ")[1]), ["&image", "*image", "*image"]);
});

Deno.test("manifest: host paths, and which container sees them", () => {
  const spec = daemonSet().spec.template.spec;
  const hostPaths = Object.fromEntries(
    spec.volumes.map((v: Any) => [v.name, `${v.hostPath.path} ${v.hostPath.type}`]),
  );
  assert.deepEqual(hostPaths, {
    "cni-bin": "/opt/cni/bin DirectoryOrCreate",
    "cni-conf": "/etc/cni/net.d DirectoryOrCreate",
    data: "/var/lib/weavets DirectoryOrCreate",
    "xtables-lock": "/run/xtables.lock FileOrCreate",
    "machine-id": "/etc/machine-id File",
    "run-weavets": "/run/weavets DirectoryOrCreate",
    netns: "/run/netns DirectoryOrCreate",
    "cni-cache": "/var/lib/cni DirectoryOrCreate",
  });
  const mounts = (c: Any) =>
    Object.fromEntries(
      c.volumeMounts.map((m: Any) => [m.name, `${m.mountPath}${m.readOnly ? " ro" : ""}`]),
    );
  assert.deepEqual(mounts(spec.initContainers[0]), {
    "cni-bin": "/host/opt/cni/bin",
    "cni-conf": "/host/etc/cni/net.d",
  });
  assert.deepEqual(mounts(spec.containers[0]), {
    data: "/var/lib/weavets",
    "xtables-lock": "/run/xtables.lock",
    "machine-id": "/etc/machine-id ro",
    "run-weavets": "/run/weavets",
    "cni-cache": "/var/lib/cni ro",
    netns: "/run/netns",
  });
  // Weave Net's leftovers: the reset needs the CNI config (Weave's conflist) and iptables' lock.
  assert.deepEqual(mounts(spec.initContainers[1]), {
    "cni-conf": "/host/etc/cni/net.d",
    "xtables-lock": "/run/xtables.lock",
  });
  const netns = spec.containers[0].volumeMounts.find((m: Any) => m.name === "netns");
  assert.equal(netns.mountPropagation, "HostToContainer", "pods' namespaces made later appear");
  const initEnv = Object.fromEntries(spec.initContainers[0].env.map((e: Any) => [e.name, e.value]));
  assert.equal(initEnv.CNI_BIN_DIR, "/host/opt/cni/bin");
  assert.equal(initEnv.CNI_CONF_DIR, "/host/etc/cni/net.d");
});

Deno.test("manifest: probes reach the loopback-only API of a host-network pod", () => {
  const daemon = daemonSet().spec.template.spec.containers[0];
  // Without host: the kubelet would dial the node IP, where the API does not listen.
  assert.deepEqual(daemon.readinessProbe.httpGet, {
    host: "127.0.0.1",
    port: 6784,
    path: "/status",
  });
  assert.deepEqual(daemon.livenessProbe.httpGet, {
    host: "127.0.0.1",
    port: 6784,
    path: "/status/peers",
  });
  // A hung daemon is restarted after failureThreshold * periodSeconds; not at once.
  const { failureThreshold, periodSeconds } = daemon.livenessProbe;
  assert.ok(failureThreshold * periodSeconds >= 30);
});

Deno.test("manifest: Weave Net's env variables; the password is read from a Secret by the daemon", () => {
  const spec = daemonSet().spec.template.spec;
  const env = spec.containers[0].env;
  const names = env.map((e: Any) => e.name).sort();
  assert.deepEqual(names, [
    "CONN_LIMIT",
    "EXPECT_NPC",
    "EXTRA_ARGS",
    "IPALLOC_INIT",
    "IPALLOC_RANGE",
    "NODE_NAME",
    "NO_MASQ_LOCAL",
    "WEAVE_METRICS_ADDR",
    "WEAVE_MTU",
    "WEAVE_NO_FASTDP",
    "WEAVE_PASSWORD_SECRET",
  ]);
  // No env value carries a password (it would be in the pod spec and every child's environment).
  assert.ok(env.every((e: Any) => !e.valueFrom?.secretKeyRef));
  assert.equal(env.find((e: Any) => e.name === "WEAVE_PASSWORD_SECRET").value, "");
  const node = env.find((e: Any) => e.name === "NODE_NAME");
  assert.equal(node.valueFrom.fieldRef.fieldPath, "spec.nodeName");
  const initEnv = spec.initContainers[0].env.map((e: Any) => e.name);
  assert.ok(initEnv.includes("HAIRPIN_MODE"));
});

/** Runs the daemon container's shell command with a stub weavets that prints its argv. */
async function daemonArgv(env: Record<string, string>): Promise<string[]> {
  const daemon = daemonSet().spec.template.spec.containers[0];
  const values = Object.fromEntries(
    daemon.env.filter((e: Any) => "value" in e).map((e: Any) => [e.name, e.value]),
  );
  const dir = Deno.makeTempDirSync({ prefix: "wtk-argv-" });
  try {
    const stub = `${dir}/weavets`;
    Deno.writeTextFileSync(stub, '#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n', {
      mode: 0o755,
    });
    assert.deepEqual(daemon.command, ["/bin/sh", "-c"]);
    const script = daemon.args[0].replace("/usr/local/bin/weavets", stub);
    const out = await new Deno.Command("/bin/sh", {
      args: ["-c", script],
      env: { ...values, NODE_NAME: "node-a", ...env },
      clearEnv: true,
      stdout: "piped",
    }).output();
    assert.equal(out.code, 0);
    return new TextDecoder().decode(out.stdout).trimEnd().split("\n");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("manifest: the daemon command line follows the env (empty means default)", async () => {
  assert.deepEqual(await daemonArgv({}), [
    "daemon",
    "--kube",
    "--nickname=node-a",
    "--datadir=/var/lib/weavets",
    "--ipalloc-range=10.32.0.0/12",
    "--conn-limit=200",
    "--metrics-addr=0.0.0.0:6782",
  ]);
  assert.deepEqual(
    await daemonArgv({
      IPALLOC_INIT: "consensus=3",
      WEAVE_MTU: "8912",
      WEAVE_NO_FASTDP: "1",
      WEAVE_METRICS_ADDR: "",
      EXTRA_ARGS: "--port=7783  --host=0.0.0.0",
      WEAVE_PASSWORD: "s3cret",
    }),
    [
      "daemon",
      "--kube",
      "--nickname=node-a",
      "--datadir=/var/lib/weavets",
      "--ipalloc-range=10.32.0.0/12",
      "--ipalloc-init=consensus=3",
      "--conn-limit=200",
      "--metrics-addr=",
      "--mtu=8912",
      "--no-fastdp",
      "--port=7783",
      "--host=0.0.0.0",
    ],
  );
});

Deno.test("manifest: the real daemon accepts the command line the manifest builds", async () => {
  const facts = { machineId: () => "m", hostname: () => "node-a", readFile: () => "" };
  const defaults = parseDaemonConfig((await daemonArgv({})).slice(1), {}, facts)!;
  assert.equal(defaults.kube, true);
  assert.equal(defaults.ipallocRange, "10.32.0.0/12");
  assert.equal(defaults.metricsAddr, "0.0.0.0:6782");
  assert.equal(defaults.fastdp, true);
  const env = { WEAVE_PASSWORD: "s3cret", NO_MASQ_LOCAL: "0" };
  const tuned = parseDaemonConfig(
    (await daemonArgv({
      IPALLOC_INIT: "consensus=3",
      WEAVE_MTU: "8912",
      WEAVE_NO_FASTDP: "1",
      WEAVE_METRICS_ADDR: "",
      EXTRA_ARGS: "--port=7783",
    })).slice(1),
    env,
    facts,
  )!;
  assert.deepEqual(
    [tuned.ipallocInit, tuned.mtu, tuned.fastdp, tuned.metricsAddr, tuned.port, tuned.password],
    ["consensus=3", 8912, false, null, 7783, "s3cret"],
  );
  assert.equal(tuned.noMasqLocal, false);
});
