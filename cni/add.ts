/**
 * ADD: address from IPAM, bridge (created when missing), veth with the pod end created directly in
 * the pod's namespace, address, routes, gratuitous ARP; prints the Result. Whatever this ADD
 * created is removed again, and the address released, when a later step fails — but never an
 * address this ADD did not get: a second ADD of a live attachment leaves it alone.
 */
import { isMac } from "../net/addr/mod.ts";
import type { CommandContext } from "./context.ts";
import { CniError, describeCause, ErrorCode } from "./errors.ts";
import {
  AlreadyAttached,
  createPodVeth,
  deleteHostLink,
  ensureBridge,
  readyBridge,
  requireNotAttached,
} from "./host.ts";
import { type Attachment, forgetAttachment, ledgerDir, recordAttachment } from "./gc_ledger.ts";
import { ipamSource } from "./ipam/source.ts";
import { withNodeLock } from "./lock.ts";
import { hostVethName } from "./names.ts";
import { netnsProblem } from "./netns.ts";
import { announcePod, configurePod, type PodRoute } from "./pod.ts";
import { formatResult, type Result } from "./result.ts";

export async function add(ctx: CommandContext): Promise<Record<string, unknown>> {
  const { conf, env } = ctx;
  const mac = conf.mac ?? macFromArgs(env.args);
  const hostName = hostVethName(env.containerId, env.ifname);
  // Both before IPAM: allocations are keyed by the attachment, so an ADD of a live one would get
  // (and, failing later, release) the live pod's address.
  requireNotAttached(hostName);
  const ipam = await ipamSource(ctx);
  const problem = netnsProblem(env.netns);
  if (problem) {
    throw new CniError(
      problem.missing ? ErrorCode.UnknownContainer : ErrorCode.InvalidEnvironment,
      `CNI_NETNS: ${problem.why}`,
    );
  }
  ctx.mark?.("checks");
  // Before IPAM: GC may release only what this network added (cni/gc_ledger.ts). A record left
  // by an ADD that fails from here on costs a no-op release at GC; one missing would leak.
  const attachment = { containerID: env.containerId, ifname: env.ifname };
  const ledger = recordForGc(conf.name, attachment);
  const alloc = await ipam.add();
  ctx.mark?.("ipam");
  let created = false;
  try {
    const ips = alloc.ips!;
    const v6 = ips.find((ip) => ip.address.includes(":"));
    if (v6) {
      throw new CniError(
        ErrorCode.UnsupportedField,
        `IPAM returned the IPv6 address ${v6.address}; weavets is IPv4-only: configure ` +
          "the ipam plugin with IPv4 ranges only",
      );
    }
    const bridge = readyBridge(conf.bridge) ??
      await withNodeLock(() =>
        ensureBridge(conf.bridge, conf.mtu, () => ipam.bridgeAddress(alloc))
      );
    ctx.mark?.("bridge");
    const gateway = ipam.gateway(alloc, bridge.address.slice(0, bridge.address.indexOf("/")));
    // The bridge's MTU is the overlay's path MTU: a larger pod MTU would have frames dropped
    // silently on the fast path, so it is refused rather than half working.
    if (conf.mtu !== undefined && conf.mtu > bridge.mtu) {
      throw new CniError(
        ErrorCode.InvalidConfig,
        `"mtu" ${conf.mtu} is larger than the ${conf.bridge} bridge's MTU ${bridge.mtu} (the ` +
          "overlay's path MTU): set it to at most that, or leave it out to use the bridge's",
      );
    }
    const mtu = conf.mtu ?? bridge.mtu;
    const host = createPodVeth({
      hostName,
      ifname: env.ifname,
      netns: env.netns,
      mtu,
      mac,
      bridge,
      hairpin: conf.hairpinMode,
    });
    created = true;
    ctx.mark?.("veth");
    const routes: PodRoute[] = conf.routes ??
      alloc.routes?.map((r) => ({ dst: r.dst, gw: r.gw })) ??
      [{ dst: "0.0.0.0/0" }];
    const pod = configurePod({
      netns: env.netns,
      ifname: env.ifname,
      ips: ips.map((ip) => ip.address),
      routes,
      gateway,
    });
    ctx.mark?.("pod");
    const announce = () =>
      announcePod(env.netns, env.ifname, hostName, ips.map((ip) => ip.address));
    // The announcement waits for carrier (a few ms): a daemon sends it after answering.
    if (ctx.defer) ctx.defer(`announce ${hostName}`, announce);
    else await announce();
    const result: Result = {
      cniVersion: conf.cniVersion,
      interfaces: [
        { name: conf.bridge, mac: bridge.mac, mtu: bridge.mtu },
        { name: hostName, mac: host.mac, mtu: host.mtu },
        { name: env.ifname, mac: pod.mac, mtu: pod.mtu, sandbox: env.netns },
      ],
      ips: ips.map((ip) => ({ address: ip.address, gateway, interface: 2 })),
      routes: routes.map((r) => ({ dst: r.dst, gw: r.gw ?? gateway })),
    };
    const dns = conf.dns ?? alloc.dns;
    if (dns) result.dns = dns;
    return formatResult(result, conf.cniVersion);
  } catch (e) {
    if (created) undo(() => deleteHostLink(hostName), `delete ${hostName}`);
    // AlreadyAttached: another ADD of this attachment won the race to the interface; the
    // address is that pod's.
    if (!(e instanceof AlreadyAttached)) {
      const released = await undoAsync(() => ipam.del(), "release the address");
      if (released && ledger) undo(() => forgetAttachment(ledger, attachment), "forget it for GC");
    }
    throw e;
  }
}

/** `MAC=` in CNI_ARGS (how podman passes --mac-address), validated. */
function macFromArgs(args: Map<string, string>): string | undefined {
  const mac = args.get("MAC");
  if (mac === undefined) return undefined;
  if (!isMac(mac)) {
    throw new CniError(
      ErrorCode.InvalidEnvironment,
      `CNI_ARGS has MAC=${mac}, which is not a MAC address (aa:bb:cc:dd:ee:ff)`,
    );
  }
  return mac;
}

function undo(fn: () => unknown, what: string): void {
  try {
    fn();
  } catch (e) {
    console.error(`weavets cni: ADD failed, and could not ${what}: ${describeCause(e)}`);
  }
}

/** True when `fn` succeeded. */
async function undoAsync(fn: () => Promise<unknown>, what: string): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch (e) {
    console.error(`weavets cni: ADD failed, and could not ${what}: ${describeCause(e)}`);
    return false;
  }
}

/**
 * Records the attachment for GC; the ledger's directory, or null when it could not (a warning:
 * the pod still starts, and only GC cannot release its address — DEL does).
 */
function recordForGc(network: string, a: Attachment): string | null {
  try {
    const dir = ledgerDir(network);
    recordAttachment(dir, a);
    return dir;
  } catch (e) {
    console.error(
      `weavets cni: ADD: could not record ${a.containerID} (${a.ifname}) for GC: ` +
        `${describeCause(e)}; GC will not release its address (DEL will)`,
    );
    return null;
  }
}
