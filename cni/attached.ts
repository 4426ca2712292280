/**
 * Telling the daemon's hooks about pod events (the NetworkPolicy controller binds a new pod's
 * addresses, and loads its rules, before the ADD returns; a DEL unbinds them).
 *
 * The daemon tells them after an event it served. When it answered "fallback" (it cannot enter
 * the pod's namespace, or failed) the plugin does the event itself and then tells the daemon in a
 * second request (`done` in cni/socket.ts), so a pod set up that way is not left closed until the
 * API server reports its address. That request is checked against what the daemon can see: an
 * ADD's host-side veth must exist on this node (the plugin made it), a DEL's must be gone, and the
 * addresses must be IPv4 — a forged or stale one is refused (a counter and a rate-limited log
 * line in cni/server.ts), never bound. The decisions here are pure: the link lookup is an input.
 */
import { isIPv4 } from "../net/addr/mod.ts";
import { describeCause } from "./errors.ts";
import { parseCniArgs } from "./env.ts";
import { hostVethName } from "./names.ts";

/** A pod an ADD attached: from CNI_ARGS (K8S_POD_NAMESPACE, K8S_POD_NAME) and the result. */
export interface AttachedPod {
  containerId: string;
  namespace?: string;
  name?: string;
  ips: string[];
}

export interface PodHooks {
  /** After a successful ADD, before it is answered. */
  onPodAdded?: (pod: AttachedPod) => Promise<void>;
  /** After a successful DEL. */
  onPodDeleted?: (containerId: string) => void;
}

/** At most this many addresses per pod are told (a result has one; a forged one thousands). */
export const MAX_TOLD_IPS = 16;

/** The pod's addresses (without prefix) from an ADD's result; anything else is skipped. */
export function resultAddresses(output: Record<string, unknown> | undefined): string[] {
  const ips = output?.ips;
  if (!Array.isArray(ips)) return [];
  const out: string[] = [];
  for (const ip of ips) {
    const address = (ip as { address?: unknown } | null)?.address;
    if (typeof address === "string" && address !== "") out.push(address.split("/")[0]);
  }
  return out;
}

/** What a ADD or DEL tells the hooks: the pod, or why nothing is told. */
export type Told =
  | { command: "ADD"; pod: AttachedPod }
  | { command: "DEL"; containerId: string }
  | { refused: string };

/**
 * Checks a `done` request (the plugin ran `env`'s ADD or DEL itself, with `output` its result)
 * against this node: `hostLinkExists` says whether an interface of that name is here.
 */
export function checkTold(
  env: Record<string, string>,
  output: Record<string, unknown>,
  hostLinkExists: (name: string) => boolean,
): Told {
  const command = env.CNI_COMMAND ?? "";
  if (command !== "ADD" && command !== "DEL") {
    return { refused: `only ADD and DEL are told to the daemon, not ${JSON.stringify(command)}` };
  }
  const containerId = env.CNI_CONTAINERID ?? "";
  const ifname = env.CNI_IFNAME ?? "";
  if (containerId === "" || ifname === "") {
    return { refused: "CNI_CONTAINERID or CNI_IFNAME is missing" };
  }
  const hostName = hostVethName(containerId, ifname);
  if (command === "DEL") {
    return hostLinkExists(hostName)
      ? { refused: `the pod's interface ${hostName} is still on this node: it was not deleted` }
      : { command, containerId };
  }
  if (!hostLinkExists(hostName)) {
    return { refused: `no interface ${hostName} on this node: this pod was not attached here` };
  }
  const ips = resultAddresses(output);
  if (ips.length === 0) return { refused: "the result has no addresses" };
  if (ips.length > MAX_TOLD_IPS) {
    return { refused: `the result has ${ips.length} addresses (at most ${MAX_TOLD_IPS})` };
  }
  const bad = ips.find((ip) => !isIPv4(ip));
  if (bad !== undefined) {
    return { refused: `${JSON.stringify(bad.slice(0, 64))} is not an IPv4 address` };
  }
  try {
    return { command, pod: podOf(env, ips) };
  } catch (e) {
    return { refused: describeCause(e) };
  }
}

/** The pod an ADD with `env` attached with addresses `ips`. */
export function podOf(env: Record<string, string>, ips: string[]): AttachedPod {
  const args = parseCniArgs(env.CNI_ARGS ?? "");
  return {
    containerId: env.CNI_CONTAINERID ?? "",
    namespace: args.get("K8S_POD_NAMESPACE"),
    name: args.get("K8S_POD_NAME"),
    ips,
  };
}

/** Tells `hooks` what `told` says (the caller handles a hook's failure). */
export async function tellHooks(hooks: PodHooks, told: Told): Promise<void> {
  if ("refused" in told) return;
  if (told.command === "ADD") await hooks.onPodAdded?.(told.pod);
  else hooks.onPodDeleted?.(told.containerId);
}
