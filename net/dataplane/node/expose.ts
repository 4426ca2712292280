/**
 * Weave's "expose": the bridge gets an address from IPAM (id "weave:expose"), which is the pods'
 * gateway and the host's way into the pod network (the connected route of the pod range). IPAM can
 * allocate only after the initial split is agreed, so this waits for it and retries until done.
 * An address already on the bridge (a restart) is adopted.
 */
import { describeCause } from "../../cause.ts";
import { addAddress, findLink, LinuxError, listAddresses } from "../../linux/mod.ts";
import type { Logger } from "../../log.ts";

export const EXPOSE_ID = "weave:expose";

export interface ExposeOptions {
  bridge: string;
  /** Allocates the address for EXPOSE_ID ("a.b.c.d/len"); may wait for IPAM. */
  allocate(id: string): Promise<string>;
  /** True when IPAM can allocate. */
  ipamReady(): boolean;
  log: Logger;
  retryMs?: number;
}

export interface Expose {
  readonly name: "expose";
  start(): void;
  stop(): void;
  ready(): string | null;
}

/** The bridge's IPv4 address, if it exists and has one. */
export function bridgeAddress(bridge: string): string | undefined {
  const link = findLink(bridge);
  if (!link) return undefined;
  return listAddresses(link.index).find((a) => a.family === 4)?.cidr;
}

export function createExpose(opts: ExposeOptions): Expose {
  let address: string | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  let busy = false;

  async function attempt(): Promise<void> {
    if (stopped || busy) return;
    busy = true;
    try {
      address = bridgeAddress(opts.bridge);
      if (address) {
        opts.log.info("bridge address in place", { bridge: opts.bridge, address });
        return;
      }
      if (!opts.ipamReady() || !findLink(opts.bridge)) return schedule();
      const cidr = await opts.allocate(EXPOSE_ID);
      try {
        addAddress(opts.bridge, cidr);
      } catch (e) {
        // The CNI plugin may have exposed it meanwhile (same IPAM key, same address).
        if (!(e instanceof LinuxError && e.code === "EEXIST")) throw e;
      }
      address = cidr;
      opts.log.info("bridge exposed", { bridge: opts.bridge, address: cidr });
    } catch (e) {
      opts.log.warn("cannot give the bridge its address yet; retrying", {
        bridge: opts.bridge,
        error: describeCause(e),
      });
      schedule();
    } finally {
      busy = false;
    }
  }

  function schedule() {
    if (!stopped) timer = setTimeout(attempt, opts.retryMs ?? 500);
  }

  return {
    name: "expose",
    start() {
      stopped = false;
      attempt();
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
    ready() {
      return address ? null : `waiting for the ${opts.bridge} bridge's address from IPAM`;
    },
  };
}
