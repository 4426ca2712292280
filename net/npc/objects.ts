/**
 * The Kubernetes objects the policy engine reads (Pods, Namespaces, networking.k8s.io/v1
 * NetworkPolicies): zod schemas for what a list or watch returns, and their normalisation into
 * the plain model of types.ts. Only the fields the engine uses are kept (bounded memory with
 * thousands of pods). Schemas are lenient below the object level: what the API server would have
 * rejected becomes an `invalid` part that allows nothing, never a parse failure of the whole.
 *
 * Normalisation follows the API's own defaulting: `policyTypes` absent or empty means Ingress,
 * plus Egress when the policy has egress rules; a port's protocol defaults to TCP; a missing or
 * empty `from`/`to`/`ports` means "all". ipBlock CIDRs may have host bits set (the API accepts
 * "10.1.2.3/4"); IPv6 blocks match no address of this IPv4-only network.
 */
import { z } from "zod";
import { type Cidr, parseCidr, parseIPv4, prefixMask } from "../addr/mod.ts";
import { parseSelector, type RawSelector, SELECT_ALL } from "./selector.ts";
import {
  type IpRange,
  type NamedPort,
  type NamespaceInfo,
  type Peer,
  type PodInfo,
  type PolicyInfo,
  type PortSpec,
  type Protocol,
  PROTOCOLS,
  type Rule,
} from "./types.ts";

const labels = z.record(z.string(), z.string()).nullish();
const meta = z.looseObject({
  name: z.string(),
  namespace: z.string().optional(),
  resourceVersion: z.string().optional(),
  labels,
});

const containerPorts = z.array(z.looseObject({
  name: z.string().optional(),
  containerPort: z.number(),
  protocol: z.string().optional(),
})).nullish();
const container = z.looseObject({ ports: containerPorts });

export const podSchema = z.object({
  metadata: meta,
  spec: z.object({
    nodeName: z.string().optional(),
    hostNetwork: z.boolean().optional(),
    containers: z.array(container).nullish(),
    initContainers: z.array(container).nullish(),
  }).optional(),
  status: z.object({
    phase: z.string().optional(),
    podIP: z.string().optional(),
    podIPs: z.array(z.object({ ip: z.string() })).nullish(),
  }).optional(),
});
export type PodObject = z.infer<typeof podSchema>;

export const namespaceSchema = z.object({ metadata: meta });
export type NamespaceObject = z.infer<typeof namespaceSchema>;

// Below the spec everything is read by hand (normalisePolicy), so one odd field invalidates that
// field only.
export const networkPolicySchema = z.object({
  metadata: meta,
  spec: z.unknown().optional(),
});
export type NetworkPolicyObject = z.infer<typeof networkPolicySchema>;

const TERMINAL_PHASES = new Set(["Succeeded", "Failed"]);

export function toPod(o: PodObject): PodInfo {
  const ports: NamedPort[] = [];
  for (const c of [...(o.spec?.containers ?? []), ...(o.spec?.initContainers ?? [])]) {
    for (const p of c.ports ?? []) {
      const protocol = (p.protocol ?? "TCP") as Protocol;
      if (!p.name || !PROTOCOLS.includes(protocol)) continue;
      if (!Number.isInteger(p.containerPort) || p.containerPort < 1 || p.containerPort > 65535) {
        continue;
      }
      ports.push({ name: p.name, protocol, port: p.containerPort });
    }
  }
  // A finished pod's address may already belong to a new pod.
  const ips = TERMINAL_PHASES.has(o.status?.phase ?? "") ? [] : podIPv4s(o);
  return {
    namespace: o.metadata.namespace ?? "",
    name: o.metadata.name,
    labels: o.metadata.labels ?? {},
    ips: exact(ips),
    hostNetwork: o.spec?.hostNetwork === true,
    nodeName: o.spec?.nodeName ?? "",
    ports: exact(ports),
  };
}

/**
 * The model keeps these for every pod of the cluster: an array that grew by push holds room for
 * 17 elements (184 bytes for one address), a copy (slice) only its length (56).
 */
function exact<T>(xs: T[]): T[] {
  return xs.slice();
}

function podIPv4s(o: PodObject): number[] {
  const texts = o.status?.podIPs?.map((p) => p.ip) ??
    (o.status?.podIP ? [o.status.podIP] : []);
  const out: number[] = [];
  for (const t of texts) {
    try {
      const ip = parseIPv4(t);
      if (!out.includes(ip)) out.push(ip);
    } catch {
      // IPv6: not on this network
    }
  }
  return out;
}

export function toNamespace(o: NamespaceObject): NamespaceInfo {
  return { name: o.metadata.name, labels: o.metadata.labels ?? {} };
}

// deno-lint-ignore no-explicit-any
type Json = any;

const isObject = (v: unknown): v is Record<string, Json> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** A spec that is not even an object cannot be read: it isolates its whole namespace. */
export function toPolicy(o: NetworkPolicyObject): PolicyInfo {
  const namespace = o.metadata.namespace ?? "";
  const name = o.metadata.name;
  const spec = o.spec;
  if (!isObject(spec)) {
    return {
      namespace,
      name,
      podSelector: SELECT_ALL,
      ingress: [],
      egress: [],
      problems: ["spec is not an object: isolating every pod of the namespace"],
    };
  }
  const problems: string[] = [];
  const podSelector = readSelector(spec.podSelector, "podSelector", problems) ?? SELECT_ALL;
  const ingressRules = readRules(spec.ingress, "ingress", "from", namespace, problems);
  const egressRules = readRules(spec.egress, "egress", "to", namespace, problems);
  let types = Array.isArray(spec.policyTypes) ? spec.policyTypes : [];
  if (types.length === 0) types = egressRules.length > 0 ? ["Ingress", "Egress"] : ["Ingress"];
  for (const t of types) {
    if (t !== "Ingress" && t !== "Egress") problems.push(`unknown policyType ${JSON.stringify(t)}`);
  }
  return {
    namespace,
    name,
    podSelector,
    ingress: types.includes("Ingress") ? ingressRules : null,
    egress: types.includes("Egress") ? egressRules : null,
    problems,
  };
}

function readSelector(raw: unknown, where: string, problems: string[]) {
  if (raw === undefined || raw === null) return null;
  if (!isObject(raw)) {
    problems.push(`${where} is not an object`);
    return { ...SELECT_ALL, invalid: `${where} is not an object` };
  }
  const ml = raw.matchLabels;
  const me = raw.matchExpressions;
  const okLabels = ml === undefined || ml === null ||
    (isObject(ml) && Object.values(ml).every((v) => typeof v === "string"));
  const okExprs = me === undefined || me === null ||
    (Array.isArray(me) &&
      me.every((e) =>
        isObject(e) && typeof e.key === "string" && typeof e.operator === "string" &&
        (e.values === undefined || e.values === null ||
          (Array.isArray(e.values) && e.values.every((v: unknown) => typeof v === "string")))
      ));
  if (!okLabels || !okExprs) {
    problems.push(`${where} is malformed`);
    return { ...SELECT_ALL, invalid: `${where} is malformed` };
  }
  const sel = parseSelector(raw as RawSelector);
  if (sel.invalid) problems.push(`${where}: ${sel.invalid}`);
  return sel;
}

function readRules(
  raw: unknown,
  where: string,
  peersField: "from" | "to",
  namespace: string,
  problems: string[],
): Rule[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    problems.push(`${where} is not a list: no ${where} allowed`);
    return [];
  }
  return raw.map((r, i) => {
    const at = `${where}[${i}]`;
    if (!isObject(r)) {
      problems.push(`${at} is not an object`);
      return { peers: [], ports: [] };
    }
    return {
      peers: readList(
        r[peersField],
        `${at}.${peersField}`,
        problems,
        (p, pAt) => readPeer(p, pAt, namespace, problems),
      ),
      ports: readList(r.ports, `${at}.ports`, problems, (p, pAt) => readPort(p, pAt, problems)),
    };
  });
}

/** Absent or empty: null ("all"). Not a list: an empty list (nothing). */
function readList<T>(
  raw: unknown,
  at: string,
  problems: string[],
  read: (v: unknown, at: string) => T,
): T[] | null {
  if (raw === undefined || raw === null) return null;
  if (!Array.isArray(raw)) {
    problems.push(`${at} is not a list`);
    return [];
  }
  return raw.length === 0 ? null : raw.map((v, i) => read(v, `${at}[${i}]`));
}

function readPeer(raw: unknown, at: string, namespace: string, problems: string[]): Peer {
  const bad = (reason: string): Peer => {
    problems.push(`${at}: ${reason}`);
    return { kind: "invalid", reason };
  };
  if (!isObject(raw)) return bad("not an object");
  const hasSel = raw.podSelector != null || raw.namespaceSelector != null;
  if (raw.ipBlock != null) {
    if (hasSel) return bad("ipBlock together with a selector");
    return readBlock(raw.ipBlock, at, problems);
  }
  if (!hasSel) return bad("names no pods and no ipBlock");
  return {
    kind: "pods",
    namespaces: readSelector(raw.namespaceSelector, `${at}.namespaceSelector`, problems),
    pods: readSelector(raw.podSelector, `${at}.podSelector`, problems),
    policyNamespace: namespace,
  };
}

function readBlock(raw: unknown, at: string, problems: string[]): Peer {
  const bad = (reason: string): Peer => {
    problems.push(`${at}.ipBlock: ${reason}`);
    return { kind: "invalid", reason };
  };
  if (!isObject(raw) || typeof raw.cidr !== "string") return bad("needs a cidr");
  if (raw.cidr.includes(":")) {
    // Valid, but for IPv6: it contains no address of this network.
    return { kind: "invalid", reason: `IPv6 block ${raw.cidr}: no address on this network` };
  }
  const cidr = cidrRange(raw.cidr);
  if (!cidr) return bad(`invalid cidr ${JSON.stringify(raw.cidr)}`);
  const except: IpRange[] = [];
  const list = raw.except ?? [];
  if (!Array.isArray(list)) return bad("except is not a list");
  for (const e of list) {
    if (typeof e !== "string") return bad("except holds a non-string");
    if (e.includes(":")) continue;
    const r = cidrRange(e);
    if (!r) return bad(`invalid except ${JSON.stringify(e)}`);
    if (r.lo < cidr.lo || r.hi > cidr.hi || (r.lo === cidr.lo && r.hi === cidr.hi)) {
      return bad(`except ${e} is not strictly inside ${raw.cidr}`);
    }
    except.push(r);
  }
  return { kind: "block", cidr, except: except.slice() };
}

/** "a.b.c.d/n" (host bits allowed, as the API does) as an inclusive range. */
export function cidrRange(text: string): IpRange | null {
  let c: Cidr;
  try {
    c = parseCidr(text);
  } catch {
    return null;
  }
  const lo = (c.ip & prefixMask(c.prefix)) >>> 0;
  const hi = (lo + 2 ** (32 - c.prefix) - 1) >>> 0;
  return { lo, hi };
}

const PORT_NAME = /^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/;

function readPort(raw: unknown, at: string, problems: string[]): PortSpec {
  const bad = (reason: string): PortSpec => {
    problems.push(`${at}: ${reason}`);
    return { kind: "invalid", reason };
  };
  if (!isObject(raw)) return bad("not an object");
  const protocol = raw.protocol ?? "TCP";
  if (!PROTOCOLS.includes(protocol)) return bad(`unknown protocol ${JSON.stringify(protocol)}`);
  const port = raw.port;
  const endPort = raw.endPort;
  const isPort = (n: unknown): n is number =>
    typeof n === "number" && Number.isInteger(n) && n >= 1 && n <= 65535;
  if (port === undefined || port === null) {
    if (endPort != null) return bad("endPort without port");
    return { kind: "all", protocol };
  }
  if (typeof port === "string") {
    if (endPort != null) return bad("endPort with a named port");
    if (!PORT_NAME.test(port) || !/[a-z]/.test(port) || port.includes("--")) {
      return bad(`invalid port name ${JSON.stringify(port)}`);
    }
    return { kind: "named", protocol, name: port };
  }
  if (!isPort(port)) return bad(`invalid port ${JSON.stringify(port)}`);
  if (endPort === undefined || endPort === null) {
    return { kind: "number", protocol, port, endPort: port };
  }
  if (!isPort(endPort) || endPort < port) return bad(`invalid endPort ${JSON.stringify(endPort)}`);
  return { kind: "number", protocol, port, endPort };
}
