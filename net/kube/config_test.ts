import assert from "node:assert/strict";
import {
  inClusterConfig,
  kubeconfigConfig,
  KubeConfigError,
  kubeNodeName,
  loadKubeConfig,
} from "./config.ts";

const env = (vars: Record<string, string>) => ({ get: (k: string) => vars[k] });

function tempDir(): string {
  return Deno.makeTempDirSync({ prefix: "wtk-kubecfg-" });
}

Deno.test("inClusterConfig: service host/port, the service account's CA and token file", () => {
  const dir = tempDir();
  try {
    Deno.writeTextFileSync(`${dir}/ca.crt`, "CA PEM");
    Deno.writeTextFileSync(`${dir}/token`, "tok");
    const vars = { KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" };
    assert.deepEqual(inClusterConfig(env(vars), dir), {
      server: "https://10.96.0.1:443",
      caCerts: ["CA PEM"],
      tokenFile: `${dir}/token`,
    });
    const v6 = inClusterConfig(env({ ...vars, KUBERNETES_SERVICE_HOST: "fd00::1" }), dir);
    assert.equal(v6.server, "https://[fd00::1]:443");
    assert.throws(() => inClusterConfig(env({}), dir), /pass --kubeconfig FILE/);
    Deno.removeSync(`${dir}/token`);
    assert.throws(() => inClusterConfig(env(vars), dir), /automountServiceAccountToken/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("kubeconfigConfig: current context, embedded or relative credentials", () => {
  const dir = tempDir();
  try {
    Deno.writeTextFileSync(`${dir}/ca.pem`, "CA FROM FILE");
    const path = `${dir}/config`;
    Deno.writeTextFileSync(
      path,
      `apiVersion: v1
kind: Config
current-context: admin@k
contexts:
  - name: other
    context: { cluster: nope, user: nope }
  - name: admin@k
    context: { cluster: k, user: admin }
clusters:
  - name: k
    cluster:
      server: https://127.0.0.1:6443/
      certificate-authority: ca.pem
users:
  - name: admin
    user:
      client-certificate-data: ${btoa("CERT PEM")}
      client-key-data: ${btoa("KEY PEM")}
`,
    );
    assert.deepEqual(kubeconfigConfig(path), {
      server: "https://127.0.0.1:6443",
      caCerts: ["CA FROM FILE"],
      clientCert: "CERT PEM",
      clientKey: "KEY PEM",
    });
    assert.deepEqual(loadKubeConfig({ kubeconfig: path }).caCerts, ["CA FROM FILE"]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("kubeconfigConfig: what it cannot do, it says precisely", () => {
  const dir = tempDir();
  const write = (user: string, cluster = "server: https://k:6443") => {
    Deno.writeTextFileSync(
      `${dir}/c`,
      `current-context: x
contexts: [{ name: x, context: { cluster: k, user: u } }]
clusters: [{ name: k, cluster: { ${cluster} } }]
users: [{ name: u, user: { ${user} } }]
`,
    );
    return `${dir}/c`;
  };
  try {
    assert.deepEqual(kubeconfigConfig(write("token: abc")), {
      server: "https://k:6443",
      token: "abc",
    });
    assert.throws(() => kubeconfigConfig(write("exec: { command: aws }")), /exec\/auth-provider/);
    assert.throws(
      () =>
        kubeconfigConfig(write("token: t", "server: https://k, insecure-skip-tls-verify: true")),
      /insecure-skip-tls-verify is not supported/,
    );
    assert.throws(
      () => kubeconfigConfig(write(`client-certificate-data: ${btoa("c")}`)),
      /needs its key/,
    );
    assert.throws(() => kubeconfigConfig(`${dir}/missing`), KubeConfigError);
    Deno.writeTextFileSync(`${dir}/c`, "current-context: nope\n");
    assert.throws(() => kubeconfigConfig(`${dir}/c`), /context "nope" not found/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("kubeNodeName: NODE_NAME from the downward API, validated", () => {
  assert.equal(kubeNodeName(env({ NODE_NAME: "worker-1.example" })), "worker-1.example");
  assert.throws(() => kubeNodeName(env({ NODE_NAME: "Bad_Name" })), /set NODE_NAME/);
});
