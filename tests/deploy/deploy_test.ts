/**
 * The shipped deployment, run for real without a registry or a cluster: deploy/Containerfile
 * built offline (images.ts), the DaemonSet's pod template — generated from deploy/weavets.yaml
 * (pod_template.ts) — run under podman on two node network namespaces against the TEST-DOUBLE API
 * server, with every hostPath in a temp dir. Checked as a kubelet would see it: the init container
 * installs the plugin, the daemon becomes ready, both probes answer, NetworkUnavailable=False is
 * set on each Node; then a pod on each node is attached through the plugin the init container
 * installed — run from a mount namespace where neither the image's paths nor this machine's
 * weavets, Deno or repository exist — and the two pods reach each other across nodes. A third
 * pod, whose namespace the daemon cannot see, is attached by that plugin alone (the daemon answers
 * "fallback"; the plugin then tells it the pod it attached) and reaches them while the API still
 * reports it Pending with no address: NetworkPolicy enforcement bound it before the ADD returned.
 */
import { describeCause } from "../../net/cause.ts";
import assert from "node:assert/strict";
import { Cluster } from "../../cli/demo/cluster.ts";
import { CniRuntime, type Conflist } from "../../cli/demo/cni_runtime.ts";
import { execIn } from "../../cli/demo/exec.ts";
import { ping } from "../../cli/demo/probes.ts";
import { addAddress, inNetns, netnsPath } from "../../net/linux/mod.ts";
import { CLUSTER_SECRET } from "../../net/kube/secrets.ts";
import { REPO_ROOT, weavetsBin } from "../harness/binary.ts";
import { IS_ROOT } from "../harness/netns.ts";
import { sh, shTry } from "../harness/sh.ts";
import { FakeApiServer, makePki } from "../kube/fake_apiserver.ts";
import { buildImages, IMAGE, Podman } from "./images.ts";
import { daemonSetOf, type PodRun, podRun } from "./pod_template.ts";

const API_IP = "198.18.0.1";
const NEEDED = ["podman", "runc", "catatonit", "debootstrap", "curl", "unshare", "nsenter"];

function which(cmd: string): boolean {
  return new Deno.Command("sh", { args: ["-c", `command -v ${cmd}`], stdout: "null" })
    .outputSync().success;
}

/** Bind mounts this test made (unmounted at the end, innermost first). */
const mounts: string[] = [];
async function bind(from: string, to: string): Promise<void> {
  await sh("mount", "--bind", from, to);
  mounts.push(to);
}

/** Creates what a kubelet creates for each hostPath type, under the node's root. */
async function makeHostPaths(pod: PodRun): Promise<void> {
  for (const v of pod.volumes) {
    if (v.type === "DirectoryOrCreate") await Deno.mkdir(v.hostDir, { recursive: true });
    else if (v.type === "FileOrCreate") {
      await Deno.mkdir(v.hostDir.replace(/\/[^/]*$/, ""), { recursive: true });
      await Deno.writeFile(v.hostDir, new Uint8Array(), { append: true });
    } else await Deno.stat(v.hostDir); // File / Directory: must exist, as on a node
  }
}

/**
 * A plugin directory holding `weavets`: a wrapper that runs the installed plugin in a private
 * mount namespace where /usr/local (the image's paths; this machine's install.sh and setup.sh
 * Deno), the repository, this Deno and its caches are empty, and /run/weavets is the node's.
 */
async function isolatedPlugin(dir: string, installed: string, runWeavets: string) {
  const dirOf = (p: string) => p.replace(/\/[^/]*$/, "");
  // The weavets the other tests run (WEAVETS_BIN: in CI, install.sh's output) and its runtime.
  const product = dirOf(Deno.realPathSync(weavetsBin()));
  const hide = [
    "/usr/local",
    REPO_ROOT,
    dirOf(Deno.execPath()),
    `${Deno.env.get("HOME") ?? "/root"}/.cache/deno`,
    ...(Deno.env.get("DENO_DIR") ? [Deno.env.get("DENO_DIR")!] : []),
    ...(["/usr/bin", "/bin", "/usr/sbin", "/sbin"].includes(product) ? [] : [product]),
    `${product}/../lib/weavets`,
  ];
  const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const inner = [
    "set -e",
    `for d in ${hide.map(q).join(" ")}; do`,
    '  if [ -d "$d" ]; then mount -t tmpfs wtd-hidden "$d"; fi',
    "done",
    "mkdir -p /run/weavets",
    `mount --bind ${q(runWeavets)} /run/weavets`,
    `if command -v deno >/dev/null || [ -e ${q(REPO_ROOT + "/mod.ts")} ] ||`,
    "   [ -e /usr/local/lib/weavets ] || [ -e /usr/local/bin/weavets ]; then",
    '  echo "the product is still visible in the isolated mount namespace" >&2; exit 97',
    "fi",
    `exec ${q(installed)} "$@"`,
  ].join("\n");
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/weavets`,
    `#!/bin/sh\nexec unshare --mount --propagation private /bin/sh -c ${q(inner)} sh "$@"\n`,
    { mode: 0o755 },
  );
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms: number): Promise<T> {
  return await Cluster.waitFor(what, f, ms, 250);
}

Deno.test({
  name: "deploy: the image built offline and the DaemonSet's pod template under podman — plugin " +
    "installed, daemon ready, probes, NetworkUnavailable=False, pods across nodes through the " +
    "installed plugin with no weavets, Deno or repository visible to it",
  ignore: !IS_ROOT,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const missing = NEEDED.filter((c) => !which(c));
    if (missing.length) throw new Error(`${missing.join(", ")} not installed: run tests/setup.sh`);
    const t0 = performance.now();
    const podman = await Podman.create();
    const prefix = `wtd${crypto.randomUUID().slice(0, 6)}`;
    const work = await Deno.makeTempDir({ prefix: `${prefix}-` });
    const pki = await makePki([API_IP]);
    const api = new FakeApiServer(pki);
    let c: Cluster | undefined;
    const names: string[] = [];
    const podNetns: string[] = [];
    try {
      const buildLog = await buildImages(podman);
      // Offline, there is no denort to download: the image must carry the launcher.
      assert.match(buildLog, /produced an equivalent launcher/);
      console.log(`images built offline in ${Math.round((performance.now() - t0) / 1000)} s`);

      c = Cluster.build({
        prefix,
        nodes: 2,
        bin: "/nonexistent/weavets", // the cluster's own plugin dir is not used here
        workdir: `${work}/cluster`,
        conflist: { cniVersion: "1.0.0", name: "unused", plugins: [] } as unknown as Conflist,
      });
      const cluster = c;
      const underlay = netnsPath(cluster.underlay);
      inNetns(underlay, () => addAddress("br0", `${API_IP}/24`));
      api.hostname = API_IP;
      inNetns(underlay, () => api.start());
      for (const n of cluster.nodes) api.addNode(n.name, n.underlayIp);
      api.setSecret(CLUSTER_SECRET, null); // shipped empty by the manifest
      api.putNamespace("default", {});
      const ds = daemonSetOf(await Deno.readTextFile(`${REPO_ROOT}/deploy/weavets.yaml`));

      const nodes = [];
      for (const n of cluster.nodes) {
        const root = `${work}/${n.name}`;
        const sa = `${work}/${n.name}-sa`;
        await Deno.mkdir(sa, { recursive: true });
        await Deno.writeTextFile(`${sa}/token`, api.token);
        await Deno.writeTextFile(`${sa}/ca.crt`, pki.caCert);
        await Deno.writeTextFile(`${sa}/namespace`, "kube-system");
        await Deno.mkdir(`${root}/etc`, { recursive: true });
        const machineId = crypto.randomUUID().replaceAll("-", "");
        await Deno.writeTextFile(`${root}/etc/machine-id`, `${machineId}\n`);
        const pod = podRun(ds, {
          nodeName: n.name,
          netnsPath: n.netns,
          hostRoot: root,
          image: IMAGE,
          serviceAccountDir: sa,
          kubeletEnv: {
            KUBERNETES_SERVICE_HOST: API_IP,
            KUBERNETES_SERVICE_PORT: String(api.port),
          },
          namePrefix: `${prefix}-${n.index}`,
        });
        await makeHostPaths(pod);
        // /run/netns as runtimes leave it: a shared mount, so the pods' namespaces mounted there
        // later reach the daemon through mountPropagation: HostToContainer.
        await bind(`${root}/run/netns`, `${root}/run/netns`);
        await sh("mount", "--make-shared", `${root}/run/netns`);
        // In order, each to completion (a failing one throws with its output), as the kubelet.
        const inits = new Map<string, string>();
        for (const init of pod.init) inits.set(init.name, await podman.run(...init.args));
        assert.match(
          inits.get(`${prefix}-${n.index}-install-cni`) ?? "",
          /installed .*weavets \(a launcher with its runtime in weavets\.d\//,
        );
        // The image was built offline, and install.sh still bundled the plugin's path for it.
        const payloads = [...Deno.readDirSync(`${root}/opt/cni/bin/weavets.d`)];
        assert.equal(payloads.length, 1);
        const bundle = `${root}/opt/cni/bin/weavets.d/${payloads[0].name}/plugin.js`;
        assert.ok(Deno.statSync(bundle).isFile, `${bundle} is missing`);
        nodes.push({ n, root, pod });
      }

      // Both daemons at once: with IPALLOC_INIT empty they agree on the range among the Nodes.
      const started = performance.now();
      for (const { pod } of nodes) {
        for (const ctr of pod.containers) names.push(ctr.name), await podman.run(...ctr.args);
      }
      const main = (p: PodRun) => p.containers[0];
      const get = async (netns: string, url: string) => {
        const r = await execIn(netns, "curl", [
          "-sS",
          "-m",
          "5",
          "-o",
          "/dev/null",
          "-w",
          "%{http_code}",
          url,
        ]);
        return r.stdout.trim();
      };
      for (const { n, pod } of nodes) {
        const logs = () => podman.try("logs", "--tail", "30", main(pod).name);
        try {
          await until(`${n.name}'s readiness probe`, async () => {
            const state = (await podman.run("inspect", "-f", "{{.State.Status}}", main(pod).name))
              .trim();
            if (state !== "running") throw new Error(`container ${state}`);
            return (await get(n.netns, main(pod).readiness!.url)) === "200" || undefined;
          }, 90_000);
        } catch (e) {
          throw new Error(`${describeCause(e)}\n${(await logs()).stderr}`);
        }
        assert.equal(await get(n.netns, main(pod).liveness!.url), "200");
        // What README tells operators: kubectl exec daemonset/weavets -c weavets -- weavets status
        const status = await podman.try("exec", main(pod).name, "weavets", "status");
        assert.equal(status.code, 0, status.stderr);
        assert.match(status.stdout, new RegExp(n.name));
      }
      console.log(
        `daemons ready ${Math.round((performance.now() - started) / 1000)} s after start`,
      );
      for (const { n } of nodes) {
        const cond = await until(`NetworkUnavailable on ${n.name}`, () => {
          const cs = api.node(n.name)?.status?.conditions ?? [];
          return Promise.resolve(cs.find((x: { type: string }) => x.type === "NetworkUnavailable"));
        }, 30_000);
        assert.equal(cond.status, "False");
      }

      // Pods attached through the installed plugin and conflist, as the node's runtime would.
      type Entry = (typeof nodes)[number];
      const attach = async (
        { n, root }: Entry,
        label: string,
        propagated: boolean,
        reportIp = true,
      ) => {
        const conflist: Conflist = JSON.parse(
          await Deno.readTextFile(`${root}/etc/cni/net.d/10-weavets.conflist`),
        );
        const wrapper = `${work}/${n.name}-plugin`;
        await isolatedPlugin(wrapper, `${root}/opt/cni/bin/weavets`, `${root}/run/weavets`);
        const name = `${n.name}-${label}`;
        await sh("ip", "netns", "add", name);
        podNetns.push(name);
        if (propagated) {
          // The runtime's mount, seen by the daemon in its /run/netns (propagated).
          await Deno.writeFile(`${root}/run/netns/${name}`, new Uint8Array());
          await bind(`/run/netns/${name}`, `${root}/run/netns/${name}`);
        }
        // As a kubelet: the Pod first, its address once the sandbox is up (NetworkPolicy
        // enforcement admits a pod the daemon did not attach itself when the API reports it).
        const obj = {
          metadata: { name, namespace: "default", labels: { pod: name } },
          spec: { nodeName: n.name, containers: [{ name: "c" }] },
          status: { phase: "Pending" },
        };
        api.pods.put(obj);
        const runtime = new CniRuntime(conflist, [wrapper], n.netns);
        const attachment = {
          containerId: crypto.randomUUID().replaceAll("-", "").repeat(2),
          netnsPath: `/run/netns/${name}`,
          ifname: "eth0",
          args: `K8S_POD_NAMESPACE=default;K8S_POD_NAME=${name}`,
        };
        const result = await runtime.add(attachment) as { ips?: Array<{ address: string }> };
        const ip = result.ips?.[0]?.address.split("/")[0];
        assert.ok(ip, `the plugin returned an address: ${JSON.stringify(result)}`);
        const running = { ...obj, status: { phase: "Running", podIP: ip, podIPs: [{ ip }] } };
        if (reportIp) api.pods.put(running);
        return { n, name, ip, runtime, attachment, result, report: () => api.pods.put(running) };
      };
      const reach = async (from: { name: string }, to: { name: string; ip: string }) => {
        const t = performance.now();
        await until(`${from.name} to reach ${to.name} (${to.ip})`, async () => {
          const p = await ping(netnsPath(from.name), to.ip, 1000);
          return p.ok ? p : undefined;
        }, 15_000);
        return Math.round(performance.now() - t);
      };
      const metrics = async (e: Entry) =>
        (await execIn(e.n.netns, "curl", ["-sS", "-m", "5", "http://127.0.0.1:6782/metrics"]))
          .stdout;
      const pods = [await attach(nodes[0], "p", true), await attach(nodes[1], "p", true)];
      await reach(pods[0], pods[1]);
      await reach(pods[1], pods[0]);
      // The daemon served those pod events itself: it saw the pods' namespaces (propagation).
      for (const e of nodes) {
        assert.match(await metrics(e), /weavets_cni_requests_total\{command="ADD",result="ok"\} 1/);
        const log = await podman.try("logs", main(e.pod).name);
        assert.doesNotMatch(log.stderr + log.stdout, /cannot enter a pod's network namespace/);
      }
      // A namespace the daemon cannot see (no mount in its /run/netns): it answers "fallback" and
      // the installed plugin does the whole ADD itself, still with nothing of this machine, then
      // tells the daemon, whose NetworkPolicy enforcement binds the pod before the ADD returns:
      // it is open while the API still has it Pending with no address (before that was told, it
      // stayed closed until the API reported its address: 1256 ms measured).
      const q = await attach(nodes[1], "q", false, false);
      pods.push(q);
      const closedMs = await reach(q, pods[0]);
      console.log(`the fallback pod's first echo reply across nodes ${closedMs} ms after ADD`);
      await reach(pods[0], q);
      const told = await metrics(nodes[1]);
      assert.match(told, /weavets_cni_requests_total\{command="ADD",result="fallback"\} 1/);
      assert.match(told, /weavets_cni_requests_total\{command="ADD",result="told"\} 1/);
      q.report();
      for (const p of pods) await p.runtime.del(p.attachment, p.result);
      for (const { n } of nodes) assert.deepEqual(cluster.hostVeths(n), [], `veths on ${n.name}`);

      // Negative control: the isolation hides this machine's weavets. The one the other tests
      // run cannot start there, while the plugin the init container installed can.
      const n1 = nodes[0];
      const control = `${work}/control`;
      await isolatedPlugin(control, weavetsBin(), `${n1.root}/run/weavets`);
      const machine = await execIn(n1.n.netns, `${control}/weavets`, ["version"]);
      assert.notEqual(machine.code, 0, `the machine's weavets ran isolated: ${machine.stdout}`);
      assert.doesNotMatch(machine.stdout, /^weavets \d/);
      const installed = await execIn(n1.n.netns, `${work}/${n1.n.name}-plugin/weavets`, [
        "version",
      ]);
      assert.equal(installed.code, 0, installed.stderr);
      assert.match(installed.stdout, /^weavets \d/);
      console.log(`deploy test done in ${Math.round((performance.now() - t0) / 1000)} s`);
    } finally {
      // The daemons get SIGTERM first (what the kubelet sends), then SIGKILL after 5 s.
      const t = performance.now();
      if (names.length) await podman.try("rm", "--force", "--time", "5", ...names);
      await podman.cleanup();
      console.log(`podman cleaned up in ${Math.round((performance.now() - t) / 1000)} s`);
      await api.close();
      for (const m of mounts.splice(0).reverse()) await shTry("umount", ["-l", m]);
      for (const name of podNetns) await shTry("ip", ["netns", "delete", name]);
      await c?.teardown();
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
  },
});
