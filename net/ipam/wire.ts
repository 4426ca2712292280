/**
 * IPAM messages on the "ipam" gossip channel: JSON, parsed once here by zod schemas. Pure.
 */
import { z } from "zod";
import type { PaxosState } from "./paxos.ts";
import type { RingState } from "./ring.ts";

const peerName = z.string().min(1).max(64);
const u32 = z.number().int().min(0).max(0xffffffff);
const ballot = z.tuple([z.number().int().min(0), z.string().max(64)]);

type WireEntry = [number, string, number, 0 | 1];

/**
 * [start, owner, version, takeover]. Checked by hand rather than with a zod tuple per entry: a
 * 2,000-peer ring has thousands of entries and this runs for every gossip message.
 */
function isEntries(v: unknown): v is WireEntry[] {
  if (!Array.isArray(v) || v.length > 1 << 20) return false;
  for (const e of v) {
    if (
      !Array.isArray(e) || e.length !== 4 ||
      !Number.isInteger(e[0]) || e[0] < 0 || e[0] > 0xffffffff ||
      typeof e[1] !== "string" || e[1].length === 0 || e[1].length > 64 ||
      !Number.isInteger(e[2]) || e[2] < 0 || (e[3] !== 0 && e[3] !== 1)
    ) return false;
  }
  return true;
}

const ringSchema = z.object({
  seed: z.string().max(1 << 20),
  entries: z.custom<WireEntry[]>(isEntries, "malformed ring entries"),
});
const acceptor = z.object({
  promised: ballot,
  accepted: z.object({ ballot, value: z.array(peerName).min(1).max(1 << 16) }).nullable(),
});

/** Free-address hints: peer → [time stamp, free count]; the newer stamp wins. */
const freeSchema = z.record(peerName, z.tuple([z.number().min(0), z.number().int().min(0)]));

export const gossipSchema = z.object({
  v: z.literal(1),
  range: z.string().max(18),
  ring: ringSchema.optional(),
  paxos: z.record(peerName, acceptor).optional(),
  free: freeSchema,
});

export const unicastSchema = z.discriminatedUnion("t", [
  /** "Please donate space", optionally inside [start, end) of a subnet. */
  z.object({ t: z.literal("req"), start: u32.optional(), end: z.number().int().optional() }),
  /** A donation happened: the donor's full state, which hands the space over. */
  z.object({ t: z.literal("give"), state: gossipSchema }),
  /** The donor has nothing to give. */
  z.object({ t: z.literal("none") }),
]);

export type Gossip = {
  v: 1;
  range: string;
  ring?: RingState;
  paxos?: PaxosState;
  free: Record<string, [number, number]>;
};
export type Unicast =
  | { t: "req"; start?: number; end?: number }
  | { t: "give"; state: Gossip }
  | { t: "none" };

const enc = new TextEncoder();
const dec = new TextDecoder();

type WireRing = z.infer<typeof ringSchema>;

function ringToWire(r: RingState): WireRing {
  return {
    seed: r.seed,
    entries: r.entries.map((e) => [e.start, e.owner, e.version, e.takeover ? 1 : 0]),
  };
}

function ringFromWire(r: WireRing): RingState {
  return {
    seed: r.seed,
    entries: r.entries.map(([start, owner, version, t]) => ({
      start,
      owner,
      version,
      takeover: t === 1,
    })),
  };
}

function gossipToWire(g: Gossip) {
  return { ...g, ring: g.ring ? ringToWire(g.ring) : undefined };
}

function gossipFromWire(g: z.infer<typeof gossipSchema>): Gossip {
  return {
    v: 1,
    range: g.range,
    ring: g.ring ? ringFromWire(g.ring) : undefined,
    paxos: g.paxos as PaxosState | undefined,
    free: g.free as Record<string, [number, number]>,
  };
}

export function encodeGossip(g: Gossip): Uint8Array {
  return enc.encode(JSON.stringify(gossipToWire(g)));
}

/** Throws on malformed input (the mesh logs and drops it). */
export function decodeGossip(data: Uint8Array): Gossip {
  return gossipFromWire(gossipSchema.parse(JSON.parse(dec.decode(data))));
}

export function encodeUnicast(u: Unicast): Uint8Array {
  return enc.encode(JSON.stringify(u.t === "give" ? { ...u, state: gossipToWire(u.state) } : u));
}

export function decodeUnicast(data: Uint8Array): Unicast {
  const u = unicastSchema.parse(JSON.parse(dec.decode(data)));
  return u.t === "give" ? { t: "give", state: gossipFromWire(u.state) } : u;
}

/** Ring and Paxos records as persisted (same shapes as on the wire). */
export const persistedMetaSchema = z.object({
  ring: ringSchema.nullable(),
  paxos: z.record(peerName, acceptor).nullable(),
});

export interface PersistedMeta {
  ring: RingState | null;
  paxos: PaxosState | null;
}

export function encodeMeta(m: PersistedMeta): string {
  return JSON.stringify({ ring: m.ring ? ringToWire(m.ring) : null, paxos: m.paxos });
}

export function decodeMeta(text: string): PersistedMeta {
  const m = persistedMetaSchema.parse(JSON.parse(text));
  return { ring: m.ring ? ringFromWire(m.ring) : null, paxos: m.paxos as PaxosState | null };
}
