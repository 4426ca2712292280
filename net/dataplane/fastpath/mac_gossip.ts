/**
 * What the data plane gossips on the mesh channel "macs": per peer, where to reach it on the
 * underlay, which paths it offers, and the MACs (pods) on its bridge.
 *
 * Authorship (docs/PROTOCOL.md, "Authorship"): each record is signed by the peer it describes
 * (domain MACS_DOMAIN, MeshView.sign) and travels with its signature, so a relay passes records on
 * but cannot forge or alter them; a receiver checks it against the key bound to the record's peer
 * (MeshView.verify) before merging. The signature covers the record's exact body bytes (compact
 * JSON, sent as they were signed), so no canonical re-encoding is needed.
 *
 * Merge: per peer, the record with the highest (version, body bytes) wins — a total order, so the
 * state is a CRDT (idempotent, commutative, associative) even when two records share a version
 * (an owner restarted at the same version). Versions stay far below 2^53 (MAX_VERSION) and a
 * received version may move at most MAX_VERSION_STEP past the one held, so a peer can always
 * re-assert above any record of its own it meets (nextVersion). Pure: no I/O, no clock.
 */
import { Buffer } from "node:buffer";
import { z } from "zod";
import { isMac } from "../../addr/mod.ts";
import type { PeerName, SignatureCheck } from "../../mesh/gossip_channel.ts";

/** The signature domain of a macs record (net/mesh/signing.ts). */
export const MACS_DOMAIN = "macs/record";
/** Versions are seconds since the epoch or a little above; 2^40 leaves room for millennia. */
export const MAX_VERSION = 2 ** 40;
/** How far past the held version a received one may move (2^24 s is ~194 days of downtime). */
export const MAX_VERSION_STEP = 2 ** 24;
/** Bounds on one message, far above what a supported cluster (2,000 nodes) sends at once. */
export const LIMITS = { recordsPerMessage: 4096, macsPerRecord: 16384 };
// A record's body: ~20 bytes per MAC and ~200 of the rest, as base64 (4/3).
const MAX_BODY_TEXT = Math.ceil(((LIMITS.macsPerRecord * 20 + 256) * 4) / 3);

const Mac = z.string().refine(isMac, "not a MAC address").transform((s) => s.toLowerCase());
const Ipv4 = z.string().regex(/^(\d{1,3}\.){3}\d{1,3}$/, "not an IPv4 address");

export const PeerRecordSchema = z.object({
  peer: Mac,
  version: z.number().int().nonnegative().max(MAX_VERSION),
  addr: Ipv4,
  sleevePort: z.number().int().min(1).max(65535),
  fastdpPort: z.number().int().min(1).max(65535),
  /** This peer accepts VXLAN (not when it is encrypted or runs with --no-fastdp). */
  fastdp: z.boolean(),
  macs: z.array(Mac).max(LIMITS.macsPerRecord),
});
export type PeerRecord = z.infer<typeof PeerRecordSchema>;

/** A record with the exact bytes its author signed and the signature. */
export interface SignedRecord {
  record: PeerRecord;
  body: Uint8Array;
  signature: Uint8Array;
}

const WireSchema = z.array(
  z.object({
    b: z.string().max(MAX_BODY_TEXT).regex(/^[A-Za-z0-9_-]*$/),
    s: z.string().regex(/^[A-Za-z0-9_-]{86}$/, "not a 64-byte signature"),
  }).strict(),
).max(LIMITS.recordsPerMessage);

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });
const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64url");
const unb64 = (s: string) => new Uint8Array(Buffer.from(s, "base64url"));

/** The bytes a record's signature covers: its fields in a fixed order, compact JSON. */
export function recordBody(r: PeerRecord): Uint8Array {
  const { peer, version, addr, sleevePort, fastdpPort, fastdp, macs } = PeerRecordSchema.parse(r);
  return enc.encode(JSON.stringify({ peer, version, addr, sleevePort, fastdpPort, fastdp, macs }));
}

/** Signs a record this peer authors (`sign` is MeshView.sign). */
export function signRecord(
  r: PeerRecord,
  sign: (domain: string, payload: Uint8Array) => Uint8Array,
): SignedRecord {
  const body = recordBody(r);
  return { record: PeerRecordSchema.parse(r), body, signature: sign(MACS_DOMAIN, body) };
}

export function encodeRecords(records: SignedRecord[]): Uint8Array {
  return enc.encode(JSON.stringify(records.map((r) => ({ b: b64(r.body), s: b64(r.signature) }))));
}

/** Parses gossip from a peer; throws (zod, JSON) on anything malformed. Signatures unchecked. */
export function decodeRecords(data: Uint8Array): SignedRecord[] {
  return WireSchema.parse(JSON.parse(dec.decode(data))).map(({ b, s }) => {
    const body = unb64(b);
    return {
      record: PeerRecordSchema.parse(JSON.parse(dec.decode(body))),
      body,
      signature: unb64(s),
    };
  });
}

export type RecordDrop = Exclude<SignatureCheck, "valid">;

/**
 * Splits received records into those their peers signed and the rest, by reason: "invalid" is a
 * forgery (count it, log it rate-limited), "unknown-author" waits for the author's topology entry
 * (anti-entropy brings the record again). Records about `self` are returned apart, verified too:
 * the caller re-asserts above them (nextVersion).
 */
export function authenticate(
  records: SignedRecord[],
  self: PeerName,
  verify: (
    author: PeerName,
    domain: string,
    payload: Uint8Array,
    sig: Uint8Array,
  ) => SignatureCheck,
): {
  others: SignedRecord[];
  own: SignedRecord[];
  dropped: Array<{ peer: PeerName; reason: RecordDrop }>;
} {
  const out = {
    others: [] as SignedRecord[],
    own: [] as SignedRecord[],
    dropped: [] as Array<{ peer: PeerName; reason: RecordDrop }>,
  };
  for (const r of records) {
    const check = verify(r.record.peer, MACS_DOMAIN, r.body, r.signature);
    if (check !== "valid") out.dropped.push({ peer: r.record.peer, reason: check });
    else (r.record.peer === self ? out.own : out.others).push(r);
  }
  return out;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/** Total order on records of one peer: positive when `a` supersedes `b`. */
export function compareRecords(a: SignedRecord, b: SignedRecord): number {
  if (a.record.version !== b.record.version) return a.record.version - b.record.version;
  return compareBytes(a.body, b.body);
}

/** The merged view of every peer's record. */
export class MacGossipState {
  readonly #records = new Map<string, SignedRecord>();

  /**
   * Merges records (already authenticated); returns those that were new (to forward), empty
   * when nothing changed, and the peers whose version jumped too far (refused).
   */
  merge(records: SignedRecord[]): { fresh: SignedRecord[]; jumped: PeerName[] } {
    const fresh: SignedRecord[] = [];
    const jumped: PeerName[] = [];
    for (const r of records) {
      const have = this.#records.get(r.record.peer);
      if (have && compareRecords(r, have) <= 0) continue;
      if (have && r.record.version - have.record.version > MAX_VERSION_STEP) {
        jumped.push(r.record.peer);
        continue;
      }
      this.#records.set(r.record.peer, r);
      fresh.push(r);
    }
    return { fresh, jumped };
  }

  /** This peer's own record, as it just signed it (no version check: it is the author). */
  putOwn(r: SignedRecord): void {
    this.#records.set(r.record.peer, r);
  }

  get(peer: string): PeerRecord | undefined {
    return this.#records.get(peer)?.record;
  }

  all(): PeerRecord[] {
    return [...this.#records.values()].map((r) => r.record);
  }

  signed(): SignedRecord[] {
    return [...this.#records.values()];
  }

  /** Forgets peers no longer in the topology (their records are not gossiped on). */
  retain(peers: Set<string>): void {
    for (const p of this.#records.keys()) if (!peers.has(p)) this.#records.delete(p);
  }
}

/**
 * The version of this peer's next record: above the previous one and above any record of its own
 * seen on the network (`seen`: a life before a restart, or anything signed with its key), and
 * otherwise the wall clock in seconds so it grows across restarts. Capped at MAX_VERSION.
 */
export function nextVersion(previous: number, nowMs: number, seen = 0): number {
  return Math.min(MAX_VERSION, Math.max(previous + 1, seen + 1, Math.floor(nowMs / 1000)));
}

/**
 * Whether a record of this peer's own, seen on the network, must be answered by re-announcing
 * above it: it outranks (or equals, with other content) what this peer says now.
 */
export function mustReassert(mine: SignedRecord | undefined, seen: SignedRecord): boolean {
  return mine !== undefined && compareRecords(seen, mine) > 0;
}
