/**
 * IPAM never hands out an address already in use on this node (issue 17): at start, every IPv4
 * address found on the bridge (claimed as "weave:expose", as Weave's own) and on the pods attached
 * to it (the far ends of its veth ports) is claimed, as Weave's `findExistingAddresses` did.
 * A pod's claim uses its real CNI key when the runtime's result cache (libcni's
 * /var/lib/cni/results, network-container-ifname files) names it, so that pod's DEL releases it;
 * otherwise a key naming its host veth ("weave:existing:<veth>", ifname as seen in the pod).
 *
 * The claims are queued when the daemon starts, before the CNI server takes pod events, so when
 * IPAM's initial split is agreed they are decided before any new pod's allocation. A claim IPAM
 * refuses (the address is in another peer's range after the split, or already held) is reported
 * as a conflict by IPAM (status, metric, log) — that address could be handed out again elsewhere.
 *
 * planClaims and parseCacheEntry are pure; scanBridge and readResultCache read the node.
 */
import { z } from "zod";

export const EXPOSE_KEY = { id: "weave:expose", ifname: "" };
/** The id of a pod's claim when no CNI key names it: this prefix and its host veth's name. */
export const EXISTING_ID_PREFIX = "weave:existing:";

export interface FoundAddress {
  /** "a.b.c.d/len" */
  cidr: string;
  /** The host end of the pod's veth on the bridge. */
  veth: string;
  /** The pod's interface name. */
  ifname: string;
}

export interface CachedAttachment {
  ip: string;
  id: string;
  ifname: string;
}

export interface Claim {
  key: { id: string; ifname: string };
  ip: string;
}

const ipOf = (cidr: string) => cidr.split("/")[0];

/** The claims for what was found (pure): the bridge's address first, then each pod's once. */
export function planClaims(
  bridgeCidrs: string[],
  pods: FoundAddress[],
  cache: CachedAttachment[],
): Claim[] {
  const out: Claim[] = [];
  const seen = new Set<string>();
  for (const c of bridgeCidrs) {
    const ip = ipOf(c);
    if (seen.has(ip)) continue;
    seen.add(ip);
    out.push({ key: { ...EXPOSE_KEY }, ip });
    break; // one weave:expose key holds one address; others are left as found
  }
  for (const p of pods) {
    const ip = ipOf(p.cidr);
    if (seen.has(ip)) continue;
    seen.add(ip);
    const known = cache.find((c) => c.ip === ip);
    out.push({
      key: known
        ? { id: known.id, ifname: known.ifname }
        : { id: `${EXISTING_ID_PREFIX}${p.veth}`, ifname: p.ifname },
      ip,
    });
  }
  return out;
}

const cacheSchema = z.object({
  containerId: z.string().min(1),
  ifName: z.string().min(1),
  result: z.object({
    ips: z.array(z.object({ address: z.string() })).optional(),
    ip4: z.object({ ip: z.string() }).optional(),
  }).optional(),
});

/** One libcni cache file (pure); [] when it is not one (a forged or foreign file costs nothing). */
export function parseCacheEntry(text: string): CachedAttachment[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return [];
  }
  const p = cacheSchema.safeParse(raw);
  if (!p.success) return [];
  const ips = [
    ...(p.data.result?.ips ?? []).map((i) => i.address),
    ...(p.data.result?.ip4 ? [p.data.result.ip4.ip] : []),
  ];
  return ips.filter((a) => /^\d+\.\d+\.\d+\.\d+\/\d+$/.test(a))
    .map((a) => ({ ip: ipOf(a), id: p.data.containerId, ifname: p.data.ifName }));
}
