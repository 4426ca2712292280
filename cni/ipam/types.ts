/**
 * Where a pod's address comes from: a delegated IPAM plugin or the local weavets daemon, both
 * keyed by (container id, interface name). Types only: the sources implement it, source.ts picks
 * one.
 */
import type { IPConfig, Result } from "../result.ts";

interface Attachment {
  containerID: string;
  ifname: string;
}

export interface IpamSource {
  /** Allocates (or claims the requested) addresses; `ips` carry no interface index yet. */
  add(): Promise<Result>;
  /** The bridge's address (the pods' gateway) when the bridge has none yet, given `alloc`. */
  bridgeAddress(alloc: Result): Promise<string>;
  /** The pods' gateway: the bridge's address `bridgeIp`, unless the IPAM config names another. */
  gateway(alloc: Result, bridgeIp: string): string;
  /** Releases the allocation; succeeds when there is none. */
  del(): Promise<void>;
  /** Error unless the allocation still holds each of `ips`. */
  check(ips: IPConfig[]): Promise<void>;
  /**
   * GC: `stale` are the attachments weavets ADDed on this network that are not in `valid`
   * (cni/gc_ledger.ts); a source releases those, or lets a delegate GC its own by `valid`.
   */
  gc(valid: Attachment[], stale: Attachment[]): Promise<void>;
  /** Error 50/51 when addresses cannot be handed out (or only with limited connectivity). */
  status(): Promise<void>;
}
