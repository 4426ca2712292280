/**
 * What the data plane gossips on the mesh channel "macs": per peer, where to reach it on the
 * underlay, which paths it offers, and the MACs (pods) on its bridge.
 * Each peer writes only its own record and bumps the version; merge keeps the highest version per
 * peer, so the state is a CRDT (idempotent, commutative, associative). Pure.
 */
import { z } from "zod";
import { isMac } from "../../addr/mod.ts";

const Mac = z.string().refine(isMac, "not a MAC address").transform((s) => s.toLowerCase());
const Ipv4 = z.string().regex(/^(\d{1,3}\.){3}\d{1,3}$/, "not an IPv4 address");

export const PeerRecordSchema = z.object({
  peer: Mac,
  version: z.number().int().nonnegative(),
  addr: Ipv4,
  sleevePort: z.number().int().min(1).max(65535),
  fastdpPort: z.number().int().min(1).max(65535),
  /** This peer accepts VXLAN (not when it is encrypted or runs with --no-fastdp). */
  fastdp: z.boolean(),
  macs: z.array(Mac).max(65536),
});
export type PeerRecord = z.infer<typeof PeerRecordSchema>;

const StateSchema = z.array(PeerRecordSchema).max(65536);

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeRecords(records: PeerRecord[]): Uint8Array {
  return enc.encode(JSON.stringify(records));
}

/** Parses gossip from a peer; throws (zod) on anything malformed. */
export function decodeRecords(data: Uint8Array): PeerRecord[] {
  return StateSchema.parse(JSON.parse(dec.decode(data)));
}

/** The merged view of every peer's record. */
export class MacGossipState {
  readonly #records = new Map<string, PeerRecord>();

  /** Merges records; returns those that were new (to forward), empty when nothing changed. */
  merge(records: PeerRecord[]): PeerRecord[] {
    const fresh: PeerRecord[] = [];
    for (const r of records) {
      const have = this.#records.get(r.peer);
      if (have && have.version >= r.version) continue;
      this.#records.set(r.peer, r);
      fresh.push(r);
    }
    return fresh;
  }

  get(peer: string): PeerRecord | undefined {
    return this.#records.get(peer);
  }

  all(): PeerRecord[] {
    return [...this.#records.values()];
  }

  /** Forgets peers no longer in the topology (their records are not gossiped on). */
  retain(peers: Set<string>): void {
    for (const p of this.#records.keys()) if (!peers.has(p)) this.#records.delete(p);
  }
}

/** A version that grows across restarts too (wall-clock based), and on every local change. */
export function nextVersion(previous: number, nowMs: number): number {
  return Math.max(previous + 1, nowMs);
}
