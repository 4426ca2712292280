/**
 * CHECK: the pod's interface, addresses and routes are still those of prevResult, the host end is
 * still on the bridge, and IPAM still holds the allocation. Any difference is a precise error.
 */
import { LinuxError } from "../net/linux/errors.ts";
import { findLink } from "../net/linux/link.ts";
import { CniError, ErrorCode } from "./errors.ts";
import type { CommandContext } from "./context.ts";
import { ipamSource } from "./ipam/source.ts";
import { hostVethName } from "./names.ts";
import { type PodState, readPod } from "./pod.ts";

export async function check(ctx: CommandContext): Promise<undefined> {
  const { conf, env } = ctx;
  const prev = conf.prevResult;
  if (!prev) {
    throw new CniError(
      ErrorCode.InvalidConfig,
      "CHECK needs prevResult (the result of ADD) in the network config; the runtime must pass it",
    );
  }
  const ifIndex = prev.interfaces?.findIndex((i) => i.name === env.ifname && i.sandbox) ?? -1;
  if (ifIndex < 0) {
    throw new CniError(
      ErrorCode.InvalidConfig,
      `prevResult lists no interface "${env.ifname}" with a sandbox; it is not this plugin's result`,
    );
  }
  const want = prev.interfaces![ifIndex];
  const mismatch = (what: string) =>
    new CniError(
      ErrorCode.CheckMismatch,
      `CHECK of ${env.containerId} (${env.ifname}): ${what}; delete and re-create the pod`,
    );

  let pod: PodState | undefined;
  try {
    pod = readPod(env.netns, env.ifname);
  } catch (e) {
    if (e instanceof LinuxError && e.code === "ENOENT") {
      throw new CniError(
        ErrorCode.UnknownContainer,
        `the pod's network namespace ${env.netns} does not exist: the container is gone`,
      );
    }
    throw e;
  }
  // Not error 3: that would tell the runtime no cleanup is needed, and the container is there.
  if (!pod) throw mismatch(`interface "${env.ifname}" is missing from ${env.netns}`);
  if (want.mac && pod.link.mac !== want.mac.toLowerCase()) {
    throw mismatch(`"${env.ifname}" has MAC ${pod.link.mac}, prevResult says ${want.mac}`);
  }
  if (!pod.link.up) throw mismatch(`"${env.ifname}" is down`);

  const ips = (prev.ips ?? []).filter((ip) =>
    ip.interface === undefined || ip.interface === ifIndex
  );
  const present = pod.addresses.map((a) => a.cidr);
  for (const ip of ips) {
    if (!present.includes(ip.address)) {
      throw mismatch(
        `address ${ip.address} is missing from "${env.ifname}" (it has ` +
          `${present.length ? present.join(", ") : "no address"})`,
      );
    }
  }
  for (const r of prev.routes ?? []) {
    const found = pod.routes.some((have) =>
      have.dst === r.dst && (r.gw === undefined || have.gateway === r.gw)
    );
    if (!found) {
      throw mismatch(`route ${r.dst}${r.gw ? ` via ${r.gw}` : ""} is missing in the pod`);
    }
  }

  const hostName = hostVethName(env.containerId, env.ifname);
  const host = findLink(hostName);
  const bridge = findLink(conf.bridge);
  if (!host) throw mismatch(`host interface "${hostName}" is missing`);
  if (!bridge) throw mismatch(`bridge "${conf.bridge}" is missing`);
  if (host.master !== bridge.index) {
    throw mismatch(`host interface "${hostName}" is not attached to bridge "${conf.bridge}"`);
  }
  if (!host.up) throw mismatch(`host interface "${hostName}" is down`);

  await (await ipamSource(ctx)).check(ips);
  return undefined;
}
