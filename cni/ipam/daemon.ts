/**
 * IPAM from the local weavets daemon over its Weave-compatible HTTP API (127.0.0.1:6784, or
 * WEAVE_HTTP_ADDR, or the config's `daemonAddress`). Allocations are keyed by the container id,
 * with the interface name as the `ifname` query parameter.
 */
import { parseCidr } from "../../net/addr/mod.ts";
import { DEFAULT_DAEMON_ADDRESS } from "../config.ts";
import { CniError, ErrorCode } from "../errors.ts";
import type { IPConfig, Result } from "../result.ts";
import type { IpamContext, IpamSource } from "./source.ts";

/**
 * The daemon holds a request up to 30 s while the ring awaits consensus, then answers 503 with
 * the reason (error 11 here, so the runtime retries); the client waits a little longer.
 */
const TIMEOUT_MS = 35_000;
/** The allocation id of the bridge's address, as in Weave Net. */
const BRIDGE_ID = "weave:expose";

export function daemonAddress(ctx: IpamContext): string {
  return ctx.conf.daemonAddress ?? ctx.processEnv.WEAVE_HTTP_ADDR ?? DEFAULT_DAEMON_ADDRESS;
}

export class DaemonIpam implements IpamSource {
  readonly #base: string;
  constructor(readonly ctx: IpamContext) {
    this.#base = `http://${daemonAddress(ctx)}`;
  }

  #ipPath(suffix = ""): string {
    const { containerId, ifname } = this.ctx.env;
    return `/ip/${encodeURIComponent(containerId)}${suffix}?ifname=${encodeURIComponent(ifname)}`;
  }

  async add(): Promise<Result> {
    const wanted = this.#requested();
    if (wanted.length === 0) {
      const body = await this.#call("POST", this.#ipPath(), "allocate an address");
      return { cniVersion: "", ips: [{ address: parseAllocation(body, "allocate") }] };
    }
    const ips: IPConfig[] = [];
    for (const w of wanted) {
      const cidr = w.includes("/") ? w : `${w}/${await this.#defaultPrefix()}`;
      const { prefix } = parseCidr(cidr);
      const ip = cidr.slice(0, cidr.indexOf("/"));
      await this.#call("PUT", this.#ipPath(`/${ip}/${prefix}`), `claim ${cidr}`);
      ips.push({ address: cidr });
    }
    return { cniVersion: "", ips };
  }

  /** As Weave Net: the bridge gets the daemon's allocation for the reserved id "weave:expose". */
  async bridgeAddress(): Promise<string> {
    const body = await this.#call("POST", `/ip/${BRIDGE_ID}`, "allocate the bridge address");
    return parseAllocation(body, "allocate the bridge address");
  }

  async del(): Promise<void> {
    await this.#call("DELETE", this.#ipPath(), "release the address", [404]);
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
   * The daemon releases every allocation but the listed attachments — and the bridge's own
   * address, which this plugin allocates as "weave:expose" when it gives the bridge one.
   */
  async gc(valid: { containerID: string; ifname: string }[]): Promise<void> {
    const ids = [BRIDGE_ID, ...valid.map((a) => ({ id: a.containerID, ifname: a.ifname }))];
    const body = JSON.stringify({ ids });
    await this.#call("POST", "/ipam/gc", "release stale allocations", [], body);
  }

  async status(): Promise<void> {
    const { checkDaemonStatus } = await import("./daemon_status.ts");
    await checkDaemonStatus(this.#base);
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

  /** One request; `okStatus` lists non-2xx statuses that count as success (returning ""). */
  async #call(
    method: string,
    path: string,
    what: string,
    okStatus: number[] = [],
    body?: string,
  ): Promise<string> {
    const url = this.#base + path;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        body,
        headers: body ? { "content-type": "application/json" } : {},
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (e) {
      throw new CniError(
        ErrorCode.TryAgainLater,
        `cannot ${what}: the weavets daemon is not reachable at ${this.#base} (is it running? ` +
          'set WEAVE_HTTP_ADDR or "daemonAddress" if it listens elsewhere); try again later',
        (e as Error).message,
      );
    }
    const text = await res.text();
    if (res.ok) return text;
    if (okStatus.includes(res.status)) return "";
    throw new CniError(
      res.status >= 500 ? ErrorCode.TryAgainLater : ErrorCode.IOFailure,
      `cannot ${what}: the weavets daemon answered ${method} ${path} with ${res.status}: ` +
        (text.trim() || res.statusText),
    );
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
      (e as Error).message,
    );
  }
}
