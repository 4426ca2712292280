/**
 * The DaemonSet's pod template as a kubelet would run it, translated into `podman run` arguments,
 * so that tests/deploy runs what deploy/weavets.yaml says — generated from the manifest, never a
 * copy of it. Pure: the manifest and the node's context in, argument lists and host paths out.
 *
 * Every field of the pod spec is either translated or explicitly known to be irrelevant on one
 * machine (scheduling, requests); anything else throws, so a manifest change this translation
 * does not understand fails the test instead of being silently dropped.
 */
import { parseAllDocuments } from "yaml";

// deno-lint-ignore no-explicit-any
type Obj = any;

/** Where the kubelet mounts the service account's token, CA and namespace in every container. */
export const SERVICE_ACCOUNT_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount";

export interface NodeContext {
  /** The Node's name: spec.nodeName for fieldRef. */
  nodeName: string;
  /** The node's network namespace (hostNetwork). */
  netnsPath: string;
  /** Every hostPath P is served from `${hostRoot}${P}`. */
  hostRoot: string;
  /** Replaces the manifest's image (a locally built one). */
  image: string;
  /** A directory with the service account's token, ca.crt and namespace. */
  serviceAccountDir: string;
  /** What the kubelet adds to every container's env (KUBERNETES_SERVICE_HOST/PORT). */
  kubeletEnv: Record<string, string>;
  /** Container names are `${namePrefix}-${container}`. */
  namePrefix: string;
}

export interface HostPathVolume {
  /** The volume's path on a real node. */
  path: string;
  /** Where the test serves it. */
  hostDir: string;
  type: "DirectoryOrCreate" | "FileOrCreate" | "File" | "Directory";
}

export interface HttpProbe {
  url: string;
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  failureThreshold: number;
}

export interface ContainerRun {
  name: string;
  /** Arguments of `podman` (starting with `run`). */
  args: string[];
  readiness?: HttpProbe;
  liveness?: HttpProbe;
}

export interface PodRun {
  volumes: HostPathVolume[];
  init: ContainerRun[];
  containers: ContainerRun[];
}

/** The DaemonSet named `name` in a multi-document manifest. */
export function daemonSetOf(manifest: string, name = "weavets"): Obj {
  const docs = parseAllDocuments(manifest).map((d) => d.toJS());
  const ds = docs.find((d) => d?.kind === "DaemonSet" && d?.metadata?.name === name);
  if (!ds) throw new Error(`no DaemonSet ${name} in the manifest`);
  return ds;
}

const POD_KEYS = new Set([
  "serviceAccountName",
  "hostNetwork",
  "hostPID",
  "dnsPolicy", // the node's resolver either way with host networking
  "priorityClassName", // eviction order: no eviction here
  "tolerations", // scheduling: the test is the scheduler
  "terminationGracePeriodSeconds",
  "initContainers",
  "containers",
  "volumes",
]);
const CONTAINER_KEYS = new Set([
  "name",
  "image",
  "imagePullPolicy",
  "command",
  "args",
  "env",
  "securityContext",
  "volumeMounts",
  "readinessProbe",
  "livenessProbe",
  "resources", // requests only: scheduling
]);

function checkKeys(what: string, obj: Obj, known: Set<string>) {
  for (const k of Object.keys(obj ?? {})) {
    if (!known.has(k)) throw new Error(`${what}: field "${k}" is not translated for podman`);
  }
}

/** The podman runs of the pod template of `ds` on the node `ctx`. */
export function podRun(ds: Obj, ctx: NodeContext): PodRun {
  const spec = ds?.spec?.template?.spec;
  if (!spec) throw new Error("the DaemonSet has no spec.template.spec");
  checkKeys("pod spec", spec, POD_KEYS);
  if (spec.hostNetwork !== true) throw new Error("only a hostNetwork pod can run on a node netns");
  const volumes = new Map<string, HostPathVolume>();
  for (const v of spec.volumes ?? []) {
    if (!v.hostPath || Object.keys(v).length !== 2) {
      throw new Error(`volume ${v.name}: only hostPath volumes are translated`);
    }
    const type = v.hostPath.type ?? "";
    if (!["DirectoryOrCreate", "FileOrCreate", "File", "Directory"].includes(type)) {
      throw new Error(`volume ${v.name}: hostPath type "${type}" is not translated`);
    }
    volumes.set(v.name, {
      path: v.hostPath.path,
      hostDir: `${ctx.hostRoot}${v.hostPath.path}`,
      type,
    });
  }
  const run = (c: Obj, init: boolean): ContainerRun => {
    checkKeys(`container ${c.name}`, c, CONTAINER_KEYS);
    const name = `${ctx.namePrefix}-${c.name}`;
    const args = ["run", "--name", name, "--network", `ns:${ctx.netnsPath}`];
    args.push(init ? "--rm" : "--detach");
    if (spec.hostPID) args.push("--pid", "host");
    if (!init && spec.terminationGracePeriodSeconds !== undefined) {
      args.push("--stop-timeout", String(spec.terminationGracePeriodSeconds));
    }
    // No registry: IfNotPresent (and Never) mean the image built here.
    if ((c.imagePullPolicy ?? "IfNotPresent") === "Always") {
      throw new Error(`container ${c.name}: imagePullPolicy Always needs a registry`);
    }
    args.push("--pull", "never");
    args.push(...securityArgs(c.name, c.securityContext ?? {}));
    const env: Array<[string, string]> = Object.entries(ctx.kubeletEnv);
    for (const e of c.env ?? []) env.push([e.name, envValue(c.name, e, ctx)]);
    for (const [k, v] of env) args.push("--env", `${k}=${v}`);
    for (const m of c.volumeMounts ?? []) {
      const v = volumes.get(m.name);
      if (!v) throw new Error(`container ${c.name}: mount of unknown volume ${m.name}`);
      const opts = [m.readOnly ? "ro" : "rw"];
      const prop = m.mountPropagation ?? "None";
      if (prop === "HostToContainer") opts.push("rslave");
      else if (prop === "Bidirectional") opts.push("rshared");
      else if (prop !== "None") throw new Error(`mountPropagation ${prop} is not translated`);
      args.push("--volume", `${v.hostDir}:${m.mountPath}:${opts.join(",")}`);
    }
    // automountServiceAccountToken defaults to true: every container gets the token.
    args.push("--volume", `${ctx.serviceAccountDir}:${SERVICE_ACCOUNT_MOUNT}:ro`);
    if (c.command) args.push("--entrypoint", JSON.stringify(c.command));
    args.push(ctx.image, ...(c.args ?? []));
    return {
      name,
      args,
      readiness: probe(c.name, c.readinessProbe),
      liveness: probe(c.name, c.livenessProbe),
    };
  };
  return {
    volumes: [...volumes.values()],
    init: (spec.initContainers ?? []).map((c: Obj) => run(c, true)),
    containers: (spec.containers ?? []).map((c: Obj) => run(c, false)),
  };
}

function securityArgs(container: string, sc: Obj): string[] {
  const args: string[] = [];
  for (const [k, v] of Object.entries(sc)) {
    if (k === "privileged" && v === true) args.push("--privileged");
    else if (k === "readOnlyRootFilesystem" && v === true) args.push("--read-only");
    else if (k === "allowPrivilegeEscalation" && v === false) {
      args.push("--security-opt", "no-new-privileges");
    } else if (!(v === false && ["privileged", "readOnlyRootFilesystem"].includes(k))) {
      throw new Error(`container ${container}: securityContext.${k}=${v} is not translated`);
    }
  }
  return args;
}

function envValue(container: string, e: Obj, ctx: NodeContext): string {
  if (typeof e.value === "string") return e.value;
  if (e.valueFrom?.fieldRef?.fieldPath === "spec.nodeName") return ctx.nodeName;
  throw new Error(`container ${container}: env ${e.name} has a source that is not translated`);
}

function probe(container: string, p: Obj): HttpProbe | undefined {
  if (!p) return undefined;
  const g = p.httpGet;
  if (!g) throw new Error(`container ${container}: only httpGet probes are translated`);
  // Without `host`, the kubelet dials the pod IP: for a hostNetwork pod, the node's address.
  const host = g.host ?? "NODE-IP";
  const scheme = (g.scheme ?? "HTTP").toLowerCase();
  return {
    url: `${scheme}://${host}:${g.port}${g.path ?? "/"}`,
    initialDelaySeconds: p.initialDelaySeconds ?? 0,
    periodSeconds: p.periodSeconds ?? 10,
    timeoutSeconds: p.timeoutSeconds ?? 1,
    failureThreshold: p.failureThreshold ?? 3,
  };
}
