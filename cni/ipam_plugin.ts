/**
 * The IPAM plugin face of the binary (installed as weave-ipam, like Weave Net's): another plugin
 * (a bridge, a macvlan…) names it in its `ipam.type` and execs it with its own config; it hands
 * out and takes back the weavets daemon's addresses, with Weave Net's `ipam` keys (`subnet`,
 * `gateway`, `routes`). Nothing is done to interfaces: that is the calling plugin's work.
 */
import type { CommandContext, Run } from "./context.ts";
import type { CniCommand } from "./env.ts";
import { CniError, ErrorCode } from "./errors.ts";
import { DaemonIpam } from "./ipam/daemon.ts";
import { formatResult } from "./result.ts";

export function ipamCommand(command: Exclude<CniCommand, "VERSION">): Run {
  switch (command) {
    case "ADD":
      return add;
    case "DEL":
      return async (ctx) => (await new DaemonIpam(ctx).del(), undefined);
    case "CHECK":
      return async (ctx) => (await new DaemonIpam(ctx).check(prevIps(ctx)), undefined);
    case "GC":
      return gc;
    case "STATUS":
      return async (ctx) => (await new DaemonIpam(ctx).status(), undefined);
  }
}

/** An IPAM result (spec "IP Allocation"): addresses with Weave's gateway and routes, no interfaces. */
async function add(ctx: CommandContext): Promise<Record<string, unknown>> {
  const alloc = await new DaemonIpam(ctx).add();
  const ipam = ctx.conf.ipam.kind === "daemon" ? ctx.conf.ipam : undefined;
  const gateway = ipam?.gateway;
  return formatResult({
    cniVersion: ctx.conf.cniVersion,
    ips: (alloc.ips ?? []).map((ip) => (gateway ? { ...ip, gateway } : ip)),
    ...(alloc.routes ? { routes: alloc.routes } : {}),
  }, ctx.conf.cniVersion);
}

/**
 * Nothing: the daemon's allocations are not per network, so "every allocation but these" would
 * free the addresses of pods on other networks (the weavets network's own GC covers those).
 */
function gc(): Promise<undefined> {
  console.error(
    "weavets cni: GC as an IPAM plugin releases nothing (see the weavets network's GC)",
  );
  return Promise.resolve(undefined);
}

function prevIps(ctx: CommandContext) {
  const ips = ctx.conf.prevResult?.ips;
  if (!ips?.length) {
    throw new CniError(
      ErrorCode.InvalidConfig,
      "CHECK needs prevResult with the addresses ADD gave; the runtime must pass it",
    );
  }
  return ips;
}
