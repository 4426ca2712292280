/**
 * IPAM from the local weavets daemon over its Weave-compatible HTTP API (127.0.0.1:6784, or
 * WEAVE_HTTP_ADDR, or the config's `daemonAddress`; a path is a Unix socket: cni/ipam/daemon_api.ts).
 * Allocations are keyed by the container id,
 * with the interface name as the `ifname` query parameter. Weave Net's IPAM keys (`subnet`,
 * `gateway`, `routes` in `ipam`) apply. A release the daemon cannot take now is kept on the node
 * for it (cni/pending.ts): DEL succeeds.
 */
import { parseCidr } from "../../net/addr/mod.ts";
import { DEFAULT_DAEMON_ADDRESS } from "../config.ts";
import type { CommandContext } from "../context.ts";
import { CniError, describeCause, ErrorCode } from "../errors.ts";
import { dropPendingRelease, pendingDir, recordPendingRelease } from "../pending.ts";
import type { IPConfig, Result } from "../result.ts";
import { daemonCall } from "./daemon_api.ts";
import type { IpamSource } from "./types.ts";

/**
 * The daemon holds a request up to 30 s while the ring awaits consensus, then answers 503 with
 * the reason (error 11 here, so the runtime retries); the client waits a little longer.
 */
const TIMEOUT_MS = 35_000;
/** The allocation id of the bridge's address, as in Weave Net. */
const BRIDGE_ID = "weave:expose";

export function daemonAddress(ctx: CommandContext): string {
  return ctx.conf.daemonAddress ?? ctx.processEnv.WEAVE_HTTP_ADDR ?? DEFAULT_DAEMON_ADDRESS;
}

function ipPath(id: string, ifname: string, suffix = ""): string {
  return `/ip/${encodeURIComponent(id)}${suffix}?ifname=${encodeURIComponent(ifname)}`;
}

/**
 * Releases (id, ifname) at the daemon at `address`. Error 11 when the daemon cannot take it now
 * (not reachable, or not ready: 5xx). Used by DEL and by the daemon's replay of releases kept
 * while it was away.
 */
export async function releaseAllocation(
  address: string,
  id: string,
  ifname: string,
): Promise<void> {
  const path = ipPath(id, ifname);
  await daemonCall(address, {
    method: "DELETE",
    path,
    what: "release the address",
    okStatus: [404],
  }, TIMEOUT_MS);
}

export class DaemonIpam implements IpamSource {
  readonly #address: string;
  readonly #weave: Extract<CommandContext["conf"]["ipam"], { kind: "daemon" }>;
  readonly #pendingDir: () => string;
  /** `pending`: where DEL keeps releases (default: this network namespace's, cni/pending.ts). */
  constructor(readonly ctx: CommandContext, pending?: string) {
    this.#address = daemonAddress(ctx);
    this.#weave = ctx.conf.ipam.kind === "daemon" ? ctx.conf.ipam : { kind: "daemon" };
    this.#pendingDir = () => pending ?? pendingDir();
  }

  #ipPath(suffix = ""): string {
    return ipPath(this.ctx.env.containerId, this.ctx.env.ifname, suffix);
  }

  async add(): Promise<Result> {
    // A release kept for this attachment (an earlier DEL while the daemon was away) must not be
    // replayed after this ADD: it would free the address handed out now.
    const { containerId, ifname } = this.ctx.env;
    await dropPendingRelease(this.#pendingDir(), containerId, ifname);
    const wanted = this.#requested();
    const result: Result = { cniVersion: "", ips: [] };
    if (this.#weave.routes) result.routes = this.#weave.routes;
    if (wanted.length === 0) {
      // As Weave Net: in `ipam.subnet` when given (POST /ip/{id}/{net}/{len}), else anywhere.
      const subnet = this.#weave.subnet;
      const path = subnet ? this.#ipPath(`/${subnet}`) : this.#ipPath();
      const body = await this.#call("POST", path, "allocate an address");
      result.ips!.push({ address: parseAllocation(body, "allocate") });
      return result;
    }
    for (const w of wanted) {
      const cidr = w.includes("/") ? w : `${w}/${await this.#defaultPrefix()}`;
      const { prefix } = parseCidr(cidr);
      const ip = cidr.slice(0, cidr.indexOf("/"));
      await this.#call("PUT", this.#ipPath(`/${ip}/${prefix}`), `claim ${cidr}`);
      result.ips!.push({ address: cidr });
    }
    return result;
  }

  gateway(_alloc: Result, bridgeIp: string): string {
    return this.#weave.gateway ?? bridgeIp;
  }

  /** As Weave Net: the bridge gets the daemon's allocation for the reserved id "weave:expose". */
  async bridgeAddress(): Promise<string> {
    const body = await this.#call("POST", `/ip/${BRIDGE_ID}`, "allocate the bridge address");
    return parseAllocation(body, "allocate the bridge address");
  }

  /** Releases, or keeps the release for the daemon when it is away (then DEL still succeeds). */
  async del(): Promise<void> {
    const { containerId: id, ifname } = this.ctx.env;
    try {
      await releaseAllocation(this.#address, id, ifname);
    } catch (e) {
      if (!(e instanceof CniError && e.code === ErrorCode.TryAgainLater)) throw e;
      const dir = this.#pendingDir();
      recordPendingRelease(dir, {
        id,
        ifname,
        daemon: this.#address,
        since: new Date().toISOString(),
      });
      console.error(
        `weavets cni: DEL: ${e.message.replace(/; try again later$/, "")}; the release is kept ` +
          `in ${dir} until the daemon takes it`,
      );
    }
  }

  async check(ips: IPConfig[]): Promise<void> {
    const body = await this.#call("GET", this.#ipPath(), "look up the allocation", [404]);
    const held = body.split(/\s+/).filter((s) => s !== "");
    for (const ip of ips) {
      if (!held.includes(ip.address)) {
        throw new CniError(
          ErrorCode.CheckMismatch,
          `the weavets daemon no longer holds ${ip.address} for container ` +
            `${this.ctx.env.containerId} (${this.ctx.env.ifname}); it holds ` +
            `${held.length ? held.join(", ") : "nothing"}: delete and re-create the pod`,
        );
      }
    }
  }

  /**
   * Releases the stale attachments one by one, as DEL does — never the daemon's "all but these"
   * (/ipam/gc): IPAM also holds what this network never added (cni/gc_ledger.ts).
   */
  async gc(_valid: unknown[], stale: { containerID: string; ifname: string }[]): Promise<void> {
    for (const a of stale) await releaseAllocation(this.#address, a.containerID, a.ifname);
  }

  async status(): Promise<void> {
    const { checkDaemonStatus } = await import("./daemon_status.ts");
    await checkDaemonStatus(this.#address);
  }

  /** Addresses the runtime asked for: capability `ips` / args, else CNI_ARGS `IP=`. */
  #requested(): string[] {
    if (this.ctx.conf.requestedIps.length) return this.ctx.conf.requestedIps;
    const fromArgs = this.ctx.env.args.get("IP");
    return fromArgs ? fromArgs.split(",").filter((s) => s !== "") : [];
  }

  async #defaultPrefix(): Promise<number> {
    const body = await this.#call("GET", "/ipinfo/defaultsubnet", "read the default subnet");
    return parseCidr(body.trim()).prefix;
  }

  #call(method: string, path: string, what: string, okStatus?: number[], body?: string) {
    return daemonCall(this.#address, { method, path, what, okStatus, body }, TIMEOUT_MS);
  }
}

function parseAllocation(body: string, what: string): string {
  const text = body.trim();
  try {
    parseCidr(text);
    return text;
  } catch (e) {
    throw new CniError(
      ErrorCode.DecodeFailure,
      `cannot ${what}: the weavets daemon answered "${text}", not an address a.b.c.d/len`,
      describeCause(e),
    );
  }
}
