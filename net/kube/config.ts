/**
 * Where the Kubernetes API is and how to authenticate: in a pod, the service account's token and CA
 * at the standard paths with KUBERNETES_SERVICE_HOST/PORT; outside, a kubeconfig file (its current
 * context). Parsed once here; the client gets plain data.
 */
import { describeCause } from "../cause.ts";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { WeavetsError } from "../errors.ts";

export class KubeConfigError extends WeavetsError {
  override name = "KubeConfigError";
  constructor(message: string, opts?: { cause?: unknown }) {
    super("config", message, opts);
  }
}

export interface KubeClientConfig {
  /** Base URL of the API server, e.g. https://10.96.0.1:443 (no trailing slash). */
  server: string;
  /** PEM CA certificates the server's certificate must chain to; default: the system roots. */
  caCerts?: string[];
  /** A bearer token… */
  token?: string;
  /** …or a file holding it, re-read as it rotates (bound service-account tokens expire). */
  tokenFile?: string;
  /** PEM client certificate and key (kubeadm's admin.conf authenticates this way). */
  clientCert?: string;
  clientKey?: string;
}

export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

export interface Env {
  get(name: string): string | undefined;
}

/** The configuration of a process running in a pod (the DaemonSet's case). */
export function inClusterConfig(
  env: Env = Deno.env,
  dir = SERVICE_ACCOUNT_DIR,
): KubeClientConfig {
  const host = env.get("KUBERNETES_SERVICE_HOST");
  const port = env.get("KUBERNETES_SERVICE_PORT");
  if (!host || !port) {
    throw new KubeConfigError(
      "not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT unset): " +
        "pass --kubeconfig FILE",
    );
  }
  let ca: string;
  try {
    ca = Deno.readTextFileSync(`${dir}/ca.crt`);
    Deno.statSync(`${dir}/token`);
  } catch (e) {
    throw new KubeConfigError(
      `cannot read the service account's credentials in ${dir} (${describeCause(e)}): ` +
        "is automountServiceAccountToken disabled for the weavets pod?",
    );
  }
  const h = host.includes(":") ? `[${host}]` : host; // IPv6 service address
  return { server: `https://${h}:${port}`, caCerts: [ca], tokenFile: `${dir}/token` };
}

const clusterSchema = z.looseObject({
  server: z.string(),
  "certificate-authority": z.string().optional(),
  "certificate-authority-data": z.string().optional(),
  "insecure-skip-tls-verify": z.boolean().optional(),
});

const userSchema = z.looseObject({
  token: z.string().optional(),
  tokenFile: z.string().optional(),
  "client-certificate": z.string().optional(),
  "client-certificate-data": z.string().optional(),
  "client-key": z.string().optional(),
  "client-key-data": z.string().optional(),
  exec: z.unknown().optional(),
  "auth-provider": z.unknown().optional(),
});

const kubeconfigSchema = z.object({
  "current-context": z.string().optional(),
  clusters: z.array(z.object({ name: z.string(), cluster: clusterSchema })).default([]),
  users: z.array(z.object({ name: z.string(), user: userSchema })).default([]),
  contexts: z.array(z.object({
    name: z.string(),
    context: z.looseObject({ cluster: z.string(), user: z.string().optional() }),
  })).default([]),
});

function b64(text: string): string {
  return new TextDecoder().decode(
    Uint8Array.from(atob(text.replace(/\s/g, "")), (c) => c.charCodeAt(0)),
  );
}

/** The configuration of a kubeconfig file's current context (`--kubeconfig`). */
export function kubeconfigConfig(path: string): KubeClientConfig {
  let raw: unknown;
  try {
    raw = parseYaml(Deno.readTextFileSync(path));
  } catch (e) {
    throw new KubeConfigError(`kubeconfig ${path}: ${describeCause(e)}`);
  }
  const parsed = kubeconfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new KubeConfigError(`kubeconfig ${path}: ${issue.path.join(".")}: ${issue.message}`);
  }
  const kc = parsed.data;
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/") + 1) : "./";
  const rel = (p: string) => (p.startsWith("/") ? p : dir + p);
  const ctxName = kc["current-context"];
  if (!ctxName) throw new KubeConfigError(`kubeconfig ${path}: no current-context`);
  const ctx = kc.contexts.find((c) => c.name === ctxName)?.context;
  if (!ctx) throw new KubeConfigError(`kubeconfig ${path}: context "${ctxName}" not found`);
  const cluster = kc.clusters.find((c) => c.name === ctx.cluster)?.cluster;
  if (!cluster) throw new KubeConfigError(`kubeconfig ${path}: cluster "${ctx.cluster}" not found`);
  const user: z.infer<typeof userSchema> = kc.users.find((u) => u.name === ctx.user)?.user ?? {};
  if (cluster["insecure-skip-tls-verify"]) {
    throw new KubeConfigError(
      `kubeconfig ${path}: insecure-skip-tls-verify is not supported; give the cluster's CA ` +
        "(certificate-authority or certificate-authority-data)",
    );
  }
  if (user.exec !== undefined || user["auth-provider"] !== undefined) {
    throw new KubeConfigError(
      `kubeconfig ${path}: user "${ctx.user}" uses an exec/auth-provider plugin, which weavets ` +
        "does not run; use a token or a client certificate",
    );
  }
  const read = (p: string) => {
    try {
      return Deno.readTextFileSync(rel(p));
    } catch (e) {
      throw new KubeConfigError(`kubeconfig ${path}: ${rel(p)}: ${describeCause(e)}`);
    }
  };
  const pem = (data?: string, file?: string) =>
    data !== undefined ? b64(data) : file !== undefined ? read(file) : undefined;
  const ca = pem(cluster["certificate-authority-data"], cluster["certificate-authority"]);
  const config: KubeClientConfig = { server: cluster.server.replace(/\/+$/, "") };
  if (ca) config.caCerts = [ca];
  if (user.token) config.token = user.token;
  else if (user.tokenFile) config.tokenFile = rel(user.tokenFile);
  const cert = pem(user["client-certificate-data"], user["client-certificate"]);
  const key = pem(user["client-key-data"], user["client-key"]);
  if ((cert === undefined) !== (key === undefined)) {
    throw new KubeConfigError(
      `kubeconfig ${path}: a client certificate needs its key and vice versa`,
    );
  }
  if (cert && key) Object.assign(config, { clientCert: cert, clientKey: key });
  return config;
}

/** `--kubeconfig FILE` when given, otherwise the in-cluster configuration. */
export function loadKubeConfig(opts: { kubeconfig?: string; env?: Env } = {}): KubeClientConfig {
  return opts.kubeconfig ? kubeconfigConfig(opts.kubeconfig) : inClusterConfig(opts.env);
}

/**
 * This node's name: NODE_NAME (the manifest sets it from spec.nodeName), else HOSTNAME (what
 * Weave Net's launch.sh uses), else the hostname.
 */
export function kubeNodeName(env: Env = Deno.env): string {
  const name = env.get("NODE_NAME")?.trim() || env.get("HOSTNAME")?.trim() || Deno.hostname();
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name)) {
    throw new KubeConfigError(
      `node name "${name}" is not a valid Kubernetes node name: set NODE_NAME`,
    );
  }
  return name;
}
