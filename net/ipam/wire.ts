/**
 * IPAM messages on the "ipam" gossip channel: JSON, parsed once here by zod schemas. Pure.
 * Format 2 (docs/PROTOCOL.md §9): ring tokens carry their author and signature. A peer of format 1
 * is refused with a message that says to upgrade it.
 */
import { z } from "zod";
import type { PaxosState } from "./paxos.ts";
import type { RingState } from "./ring.ts";
import type { Entry } from "./token.ts";
import { WeavetsError } from "../errors.ts";

const peerName = z.string().min(1).max(64);
const u32 = z.number().int().min(0).max(0xffffffff);
const ballot = z.tuple([z.number().int().min(0), z.string().max(64)]);

/** The format of IPAM messages; a peer that sends another is told to upgrade. */
export const IPAM_WIRE_VERSION = 2;

type WireEntry = [number, string, number, 0 | 1, string, string];

/**
 * Token states per list (current states, kept links) in one message at most: 16 per peer of a
 * 2,000-peer cluster (a ring has a token per peer, plus one or two per donation; its full ring is
 * ~4,000 tokens, 444 KB).
 */
export const MAX_RING_ENTRIES = 1 << 15;
/**
 * Bytes of one IPAM message at most, checked before parsing: with the entry cap, what bounds the
 * turn of the event loop that handles a message (tests/ipam/event_loop_test.ts: the largest forged
 * message, 17-18 ms of CPU). At 8 MiB the turn took 40 ms; the former bound, the mesh's 32 MiB
 * frame (2^18 entries), took 105-143 ms of CPU to parse alone.
 */
export const MAX_IPAM_MESSAGE_BYTES = 4 * 1024 * 1024;

/**
 * [start, owner, version, takeover, author, signature]. Checked by hand rather than with a zod
 * tuple per entry: a 2,000-peer ring has thousands of entries and this runs for every gossip
 * message. Versions are checked against the cap by the ring (a counter, not a dropped message).
 */
function isEntries(v: unknown): v is WireEntry[] {
  if (!Array.isArray(v) || v.length > MAX_RING_ENTRIES) return false;
  for (const e of v) {
    if (
      !Array.isArray(e) || e.length !== 6 ||
      !Number.isInteger(e[0]) || e[0] < 0 || e[0] > 0xffffffff ||
      typeof e[1] !== "string" || e[1].length === 0 || e[1].length > 64 ||
      !Number.isSafeInteger(e[2]) || e[2] < 0 || (e[3] !== 0 && e[3] !== 1) ||
      typeof e[4] !== "string" || e[4].length === 0 || e[4].length > 64 ||
      typeof e[5] !== "string" || (e[5].length !== 0 && e[5].length !== 86)
    ) return false;
  }
  return true;
}

const entriesSchema = z.custom<WireEntry[]>(
  isEntries,
  `malformed ring entries, or more than ${MAX_RING_ENTRIES} (more than this version supports)`,
);
const ringSchema = z.object({
  seed: z.string().max(1 << 20),
  entries: entriesSchema,
  links: entriesSchema.optional(),
});
const acceptor = z.object({
  promised: ballot,
  accepted: z.object({ ballot, value: z.array(peerName).min(1).max(1 << 16) }).nullable(),
  sig: z.string().length(86).optional(),
});

/** Free-address hints: peer → [time stamp, free count]; the newer stamp wins. */
const freeSchema = z.record(peerName, z.tuple([z.number().min(0), z.number().int().min(0)]));

export const gossipSchema = z.object({
  v: z.literal(IPAM_WIRE_VERSION),
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
  v: typeof IPAM_WIRE_VERSION;
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

const entryToWire = (e: Entry): WireEntry => [
  e.start,
  e.owner,
  e.version,
  e.takeover ? 1 : 0,
  e.author,
  e.sig,
];
const entryFromWire = ([start, owner, version, t, author, sig]: WireEntry): Entry => ({
  start,
  owner,
  version,
  takeover: t === 1,
  author,
  sig,
});

function ringToWire(r: RingState): WireRing {
  const w: WireRing = { seed: r.seed, entries: r.entries.map(entryToWire) };
  if (r.links && r.links.length > 0) w.links = r.links.map(entryToWire);
  return w;
}

function ringFromWire(r: WireRing): RingState {
  return {
    seed: r.seed,
    entries: r.entries.map(entryFromWire),
    links: (r.links ?? []).map(entryFromWire),
  };
}

function gossipToWire(g: Gossip) {
  return { ...g, ring: g.ring ? ringToWire(g.ring) : undefined };
}

function gossipFromWire(g: z.infer<typeof gossipSchema>): Gossip {
  return {
    v: IPAM_WIRE_VERSION,
    range: g.range,
    ring: g.ring ? ringFromWire(g.ring) : undefined,
    paxos: g.paxos as PaxosState | undefined,
    free: g.free as Record<string, [number, number]>,
  };
}

export function encodeGossip(g: Gossip): Uint8Array {
  return enc.encode(JSON.stringify(gossipToWire(g)));
}

/** A message of another IPAM format: the peer that sent it runs another weavets version. */
export class IpamWireVersionError extends WeavetsError {
  override name = "IpamWireVersionError";
  constructor(message: string, opts?: { cause?: unknown }) {
    super("invalid-input", message, opts);
  }
}

function parseJson(data: Uint8Array): unknown {
  if (data.length > MAX_IPAM_MESSAGE_BYTES) {
    throw new Error(
      `IPAM message of ${data.length} bytes, more than the ${MAX_IPAM_MESSAGE_BYTES} this version ` +
        `takes (a ring of more than ${MAX_RING_ENTRIES} tokens, or a forgery)`,
    );
  }
  const v: unknown = JSON.parse(dec.decode(data));
  checkFormat(v);
  const state = (v as { state?: unknown } | null)?.state;
  if (state) checkFormat(state);
  return v;
}

function checkFormat(v: unknown): void {
  const ver = (v as { v?: unknown } | null)?.v;
  if (typeof ver === "number" && ver !== IPAM_WIRE_VERSION) {
    throw new IpamWireVersionError(
      `IPAM message of format ${ver}, this peer speaks ${IPAM_WIRE_VERSION}: upgrade every ` +
        `peer to the same weavets version (format 1 had unsigned ring tokens)`,
    );
  }
}

/** Throws on malformed input (the mesh logs and drops it). */
export function decodeGossip(data: Uint8Array): Gossip {
  return gossipFromWire(gossipSchema.parse(parseJson(data)));
}

export function encodeUnicast(u: Unicast): Uint8Array {
  return enc.encode(JSON.stringify(u.t === "give" ? { ...u, state: gossipToWire(u.state) } : u));
}

export function decodeUnicast(data: Uint8Array): Unicast {
  const u = unicastSchema.parse(parseJson(data));
  return u.t === "give" ? { t: "give", state: gossipFromWire(u.state) } : u;
}

/** Ring and Paxos records as persisted (same shapes as on the wire). */
/** Format 1's ring as persisted by earlier versions: [start, owner, version, takeover]. */
const legacyRing = z.object({
  seed: z.string().max(1 << 20),
  entries: z.array(
    z.tuple([u32, peerName, z.number().int().min(0), z.union([z.literal(0), z.literal(1)])]),
  ),
});

export const persistedMetaSchema = z.object({
  ring: z.union([ringSchema, legacyRing]).nullable(),
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
  return { ring: m.ring ? ringFromDisk(m.ring) : null, paxos: m.paxos as PaxosState | null };
}

/**
 * A persisted ring; one of format 1 keeps its tokens unsigned (author = owner, no signature):
 * this peer re-signs its own (Ring.resignOwn) and learns the others' again from their owners.
 */
function ringFromDisk(r: WireRing | z.infer<typeof legacyRing>): RingState {
  const legacy = r.entries.length > 0 && (r.entries[0] as unknown[]).length === 4;
  if (!legacy) return ringFromWire(r as WireRing);
  return {
    seed: r.seed,
    entries: (r.entries as [number, string, number, 0 | 1][]).map(([start, owner, version, t]) => ({
      start,
      owner,
      version,
      takeover: t === 1,
      author: owner,
      sig: "",
    })),
  };
}
