/**
 * A weavets cluster with NetworkPolicy enforcement, for the npc end-to-end tests: node namespaces
 * with real daemons run with `--kube` against the TEST-DOUBLE API server (served inside the
 * underlay namespace, at 198.18.0.1, so the nodes reach it), pods attached through the real CNI
 * plugin and registered in the API as a kubelet does (the Pod first, its address once attached),
 * and TCP and UDP servers on ports 80 and 81 in every pod (probe.ts).
 */
import type { Cluster, Pod } from "../../cli/demo/cluster.ts";
import { addAddress, inNetns, netnsPath } from "../../net/linux/mod.ts";
import { CLUSTER_SECRET } from "../../net/kube/secrets.ts";
import { FakeApiServer, makePki } from "../kube/fake_apiserver.ts";
import { withCluster } from "../e2e/e2e.ts";
import { Prober, type Proto } from "./probe.ts";

// deno-lint-ignore no-explicit-any
type Obj = any;

const API_IP = "198.18.0.1";
export const PORTS = [80, 81];
export const PROTOS: Proto[] = ["TCP", "UDP"];

export interface NpcPod {
  /** "namespace/name". */
  key: string;
  namespace: string;
  name: string;
  pod: Pod;
  ip: string;
}

export interface NpcCluster {
  c: Cluster;
  api: FakeApiServer;
  prober: Prober;
  pods: NpcPod[];
  addPod(
    node: number,
    namespace: string,
    name: string,
    labels?: Record<string, string>,
  ): Promise<NpcPod>;
  pod(key: string): NpcPod;
  /** Creates or replaces a NetworkPolicy in the API. */
  putPolicy(namespace: string, name: string, spec: Obj): void;
  deletePolicy(namespace: string, name: string): void;
  setPodLabels(key: string, labels: Record<string, string>): void;
}

/** The Pod object a kubelet would see: named ports serve-PORT-PROTO on every served port. */
function podObject(namespace: string, name: string, node: string, labels: Record<string, string>) {
  return {
    metadata: { name, namespace, labels },
    spec: {
      nodeName: node,
      containers: [{
        name: "server",
        ports: PORTS.flatMap((port) =>
          PROTOS.map((protocol) => ({
            name: `serve-${port}-${protocol.toLowerCase()}`,
            containerPort: port,
            protocol,
          }))
        ),
      }],
    },
    status: { phase: "Pending" },
  };
}

export interface NpcClusterOptions {
  nodes: number;
  noFastdp?: boolean;
  namespaces: Record<string, Record<string, string>>;
  daemonArgs?: string[];
  /** Fills the API before the daemons start (with the nodes' names). */
  populate?: (api: FakeApiServer, nodes: string[]) => void;
}

export async function withNpcCluster(
  opts: NpcClusterOptions,
  fn: (n: NpcCluster) => Promise<void>,
): Promise<void> {
  const pki = await makePki([API_IP]);
  const api = new FakeApiServer(pki);
  const dir = await Deno.makeTempDir({ prefix: "wtnpc-" });
  const kubeconfig = `${dir}/kubeconfig`;
  const prober = new Prober();
  try {
    await withCluster({
      nodes: opts.nodes,
      noFastdp: opts.noFastdp,
      daemonArgs: ["--kube", "--kubeconfig", kubeconfig, ...(opts.daemonArgs ?? [])],
      daemonEnv: (node) => ({ NODE_NAME: node.name }),
      setup: async (c) => {
        const underlay = netnsPath(c.underlay);
        inNetns(underlay, () => addAddress("br0", `${API_IP}/24`));
        api.hostname = API_IP;
        inNetns(underlay, () => api.start());
        await Deno.writeTextFile(kubeconfig, kubeconfigText(api, pki.caCert));
        for (const n of c.nodes) api.addNode(n.name, n.underlayIp);
        // Shipped empty by the manifest; the first peer fills it.
        api.setSecret(CLUSTER_SECRET, null);
        for (const [ns, labels] of Object.entries(opts.namespaces)) api.putNamespace(ns, labels);
        opts.populate?.(api, c.nodes.map((node) => node.name));
      },
      cleanup: () => api.close(),
    }, async (c) => {
      const pods: NpcPod[] = [];
      const n: NpcCluster = {
        c,
        api,
        prober,
        pods,
        async addPod(node, namespace, name, labels = { pod: name }) {
          const nodeName = c.nodes[node].name;
          const obj = podObject(namespace, name, nodeName, labels);
          api.pods.put(obj);
          const pod = await c.addPod(c.nodes[node], `${namespace}-${name}`, { namespace, name });
          if (!pod.ip) throw new Error(`${namespace}/${name} got no address`);
          // The kubelet reports the address once the sandbox is up.
          api.pods.put({
            ...obj,
            status: { phase: "Running", podIP: pod.ip, podIPs: [{ ip: pod.ip }] },
          });
          prober.serve(pod.netns, PORTS);
          const p = { key: `${namespace}/${name}`, namespace, name, pod, ip: pod.ip };
          pods.push(p);
          return p;
        },
        pod(key) {
          const p = pods.find((x) => x.key === key);
          if (!p) throw new Error(`no pod ${key}`);
          return p;
        },
        putPolicy(namespace, name, spec) {
          api.networkPolicies.put({
            apiVersion: "networking.k8s.io/v1",
            kind: "NetworkPolicy",
            metadata: { name, namespace },
            spec,
          });
        },
        deletePolicy(namespace, name) {
          api.networkPolicies.delete(namespace, name);
        },
        setPodLabels(key, labels) {
          const [ns, name] = key.split("/");
          const obj = structuredClone(api.pods.get(ns, name));
          obj.metadata.labels = labels;
          api.pods.put(obj);
        },
      };
      await fn(n);
    });
  } finally {
    prober.close();
    await api.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

function kubeconfigText(api: FakeApiServer, ca: string): string {
  return [
    "apiVersion: v1",
    "kind: Config",
    "current-context: t",
    "contexts: [{name: t, context: {cluster: t, user: t}}]",
    `clusters: [{name: t, cluster: {server: "${api.url}", certificate-authority-data: ${
      btoa(ca)
    }}}]`,
    `users: [{name: t, user: {token: ${api.token}}}]`,
    "",
  ].join("\n");
}
