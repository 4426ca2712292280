/**
 * The mesh's secrets from the Kubernetes API (net/kube/secrets.ts) against the fake API server:
 * the password Secret named, found or missing, and the cluster secret filled once by whoever
 * comes first.
 */
import assert from "node:assert/strict";
import { KubeClient } from "../../net/kube/client.ts";
import { CLUSTER_SECRET, CLUSTER_SECRET_KEY, resolveMeshSecrets } from "../../net/kube/secrets.ts";
import { runWeavets } from "../harness/binary.ts";
import { FakeApiServer, makePki } from "./fake_apiserver.ts";

const pki = await makePki();

async function withApi(fn: (api: FakeApiServer, client: KubeClient) => Promise<void>) {
  const api = new FakeApiServer(pki);
  api.start();
  const client = new KubeClient({ server: api.url, caCerts: [pki.caCert], token: api.token });
  try {
    await fn(api, client);
  } finally {
    client.close();
    await api.close();
  }
}

const NS = "kube-system";

Deno.test("kube secrets: weavets-passwd, else Weave's weave-passwd, is the password", async () => {
  await withApi(async (api, client) => {
    api.setSecret(CLUSTER_SECRET, null);
    api.setSecret("weave-passwd", { "weave-passwd": "from-weave\n" });
    assert.deepEqual(await resolveMeshSecrets(client, NS, null), {
      password: "from-weave",
      passwordFrom: "weave-passwd",
      clusterSecret: null,
    });
    api.setSecret("weavets-passwd", { "weave-passwd": "from-weavets" });
    assert.equal((await resolveMeshSecrets(client, NS, null)).password, "from-weavets");
    assert.ok(!api.requests.includes("PUT secret -> 200"), "no cluster secret with a password");
  });
});

Deno.test("kube secrets: a password Secret named but missing is an error, not a downgrade", async () => {
  await withApi(async (api, client) => {
    api.setSecret(CLUSTER_SECRET, null);
    await assert.rejects(
      resolveMeshSecrets(client, NS, "weavets-passwd"),
      /weavets-passwd named by WEAVE_PASSWORD_SECRET does not exist: create it/,
    );
    api.setSecret("weavets-passwd", { other: "x" });
    await assert.rejects(resolveMeshSecrets(client, NS, "weavets-passwd"), /no key "weave-passwd"/);
  });
});

Deno.test("kube secrets: without a password the cluster secret is generated once; racers read the winner's", async () => {
  await withApi(async (api, client) => {
    api.setSecret(CLUSTER_SECRET, null);
    let n = 0;
    const random = () => new Uint8Array(32).fill(++n);
    // Two daemons at once: both read it empty, one update wins, the other gets 409 and rereads.
    const [a, b] = await Promise.all([
      resolveMeshSecrets(client, NS, null, random),
      resolveMeshSecrets(client, NS, null, random),
    ]);
    assert.equal(a.password, null);
    assert.ok(a.clusterSecret && a.clusterSecret === b.clusterSecret);
    assert.equal(atob(a.clusterSecret).length, 32);
    assert.equal(api.secret(CLUSTER_SECRET).data[CLUSTER_SECRET_KEY], a.clusterSecret);
    // A lost race, forced: the loser reads the winner's secret.
    api.setSecret(CLUSTER_SECRET, null);
    api.forceConflicts(1);
    const loser = await resolveMeshSecrets(client, NS, null, random);
    assert.ok(api.requests.includes("PUT secret -> 409"));
    assert.equal(loser.clusterSecret, api.secret(CLUSTER_SECRET).data[CLUSTER_SECRET_KEY]);
    const again = await resolveMeshSecrets(client, NS, null, () => new Uint8Array(32).fill(99));
    assert.equal(again.clusterSecret, loser.clusterSecret, "kept across restarts");
  });
});

Deno.test("kube secrets: the cluster secret's Secret missing (not applied) is an error; other API errors are too", async () => {
  await withApi(async (api, client) => {
    await assert.rejects(
      resolveMeshSecrets(client, NS, null),
      /weavets-cluster-secret is missing: it ships with deploy\/weavets.yaml/,
    );
    await api.down();
    await assert.rejects(resolveMeshSecrets(client, NS, null), /API server/);
  });
});

Deno.test("kube secrets: the daemon binary refuses to start when the named password Secret is missing", async () => {
  await withApi(async (api) => {
    api.setSecret(CLUSTER_SECRET, null);
    const dir = Deno.makeTempDirSync({ prefix: "wtk-secret-" });
    try {
      const kubeconfig = `${dir}/kubeconfig`;
      Deno.writeTextFileSync(
        kubeconfig,
        [
          "apiVersion: v1",
          "kind: Config",
          "current-context: t",
          "contexts: [{name: t, context: {cluster: t, user: t}}]",
          `clusters: [{name: t, cluster: {server: "${api.url}", certificate-authority-data: ${
            btoa(pki.caCert)
          }}}]`,
          `users: [{name: t, user: {token: ${api.token}}}]`,
          "",
        ].join("\n"),
      );
      const r = await runWeavets(
        [
          "daemon",
          "--kube",
          "--kubeconfig",
          kubeconfig,
          "--datadir",
          dir,
          "--name",
          "02:00:00:00:00:01",
        ],
        { env: { PATH: "/usr/bin:/bin", WEAVE_PASSWORD_SECRET: "weavets-passwd" }, clearEnv: true },
      );
      // A configuration error: the daemon exits 2, as for a bad flag (net/errors.ts, since 6199ca2).
      assert.equal(r.code, 2, r.stderr + r.stdout);
      assert.match(
        r.stderr + r.stdout,
        /weavets-passwd named by WEAVE_PASSWORD_SECRET does not exist/,
      );
      assert.ok(api.requests.includes("GET /api/v1/namespaces/kube-system/secrets/weavets-passwd"));
      assert.ok(!api.requests.some((q) => q.includes("cluster-secret")), "no fallback to it");
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  });
});
