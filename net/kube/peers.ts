/**
 * Pure logic of peer discovery and dead-peer reclaim on Kubernetes: which node addresses are peer
 * targets, the peer list kept in a ConfigMap annotation (peer name <-> node name), and the reclaim
 * lock annotations. No I/O: every function maps a ConfigMap (and facts) to a new ConfigMap.
 */
import { describeCause } from "../cause.ts";
import { z } from "zod";
import { isIPv4 } from "../addr/mod.ts";
import type { ConfigMap, Node } from "./types.ts";
import { WeavetsError } from "../errors.ts";

export const CONFIGMAP_NAMESPACE = "kube-system";
export const CONFIGMAP_NAME = "weavets";
export const PEERS_ANNOTATION = "kube-peers.weavets.dev/peers";
const LOCK_PREFIX = "kube-peers.weavets.dev/reclaim-";
/** A lock older than this is abandoned (its holder died mid-reclaim): another peer may take it. */
export const LOCK_TTL_MS = 5 * 60_000;

export interface PeerRecord {
  peerName: string;
  nodeName: string;
}

export class PeerListError extends WeavetsError {
  override name = "PeerListError";
  constructor(message: string, opts?: { cause?: unknown }) {
    super("invalid-input", message, opts);
  }
}

const peerListSchema = z.object({
  peers: z.array(z.object({ peerName: z.string().min(1), nodeName: z.string().min(1) })),
});

const lockSchema = z.object({ holder: z.string(), at: z.iso.datetime() });
export type Lock = z.infer<typeof lockSchema>;

/** The node's address peers dial: its IPv4 InternalIP, else its IPv4 ExternalIP. */
export function nodeAddress(node: Node): string | undefined {
  const addrs = node.status?.addresses ?? [];
  for (const type of ["InternalIP", "ExternalIP"]) {
    const a = addrs.find((x) => x.type === type && isIPv4(x.address));
    if (a) return a.address;
  }
  return undefined;
}

/** Peer targets: every other node's address, sorted, without duplicates. */
export function peerTargets(nodes: Iterable<Node>, ownNode: string): string[] {
  const out = new Set<string>();
  for (const n of nodes) {
    if (n.metadata.name === ownNode) continue;
    const a = nodeAddress(n);
    if (a) out.add(a);
  }
  return [...out].sort();
}

/** The peer list in the ConfigMap; empty when the annotation is absent. */
export function peerList(cm: ConfigMap): PeerRecord[] {
  const raw = cm.metadata.annotations?.[PEERS_ANNOTATION];
  if (raw === undefined || raw === "") return [];
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (e) {
    throw new PeerListError(`annotation ${PEERS_ANNOTATION}: not JSON (${describeCause(e)})`);
  }
  const r = peerListSchema.safeParse(json);
  if (!r.success) {
    throw new PeerListError(`annotation ${PEERS_ANNOTATION}: ${r.error.issues[0].message}`);
  }
  return r.data.peers;
}

function withAnnotations(cm: ConfigMap, edit: (a: Record<string, string>) => void): ConfigMap {
  const annotations = { ...(cm.metadata.annotations ?? {}) };
  edit(annotations);
  return { ...cm, metadata: { ...cm.metadata, annotations } };
}

function withPeers(cm: ConfigMap, peers: PeerRecord[]): ConfigMap {
  const sorted = [...peers].sort((a, b) => a.peerName.localeCompare(b.peerName));
  return withAnnotations(cm, (a) => {
    a[PEERS_ANNOTATION] = JSON.stringify({ peers: sorted });
  });
}

/** Annotation keys allow [-._a-zA-Z0-9]: a peer name's colons become dashes. */
export function lockKey(peerName: string): string {
  return LOCK_PREFIX + peerName.replace(/[^-._a-zA-Z0-9]/g, "-");
}

export function lockOf(cm: ConfigMap, peerName: string): Lock | undefined {
  const raw = cm.metadata.annotations?.[lockKey(peerName)];
  if (raw === undefined) return undefined;
  try {
    return lockSchema.parse(JSON.parse(raw));
  } catch {
    return { holder: "", at: new Date(0).toISOString() }; // unreadable: treated as abandoned
  }
}

export type Registration =
  /** Nothing to change: this peer is listed on this node. */
  | { kind: "listed" }
  /** Write `cm` (this peer added or moved). `fresh`: it was absent from a non-empty list. */
  | { kind: "add"; cm: ConfigMap; fresh: boolean }
  /** Another peer is reclaiming this peer's old addresses right now: wait for it to finish. */
  | { kind: "wait"; holder: string };

/**
 * How this peer joins the list at start. A peer absent from a list others have written either is
 * new (no state: starting fresh costs nothing) or was removed by a reclaim after its node was
 * deleted (its persisted IP ownership was handed to another peer): either way it starts fresh.
 */
export function register(cm: ConfigMap, self: PeerRecord, now: number): Registration {
  const peers = peerList(cm);
  const mine = peers.find((p) => p.peerName === self.peerName);
  const lock = lockOf(cm, self.peerName);
  if (lock && lock.holder !== self.peerName && !lockExpired(lock, now)) {
    return { kind: "wait", holder: lock.holder };
  }
  if (mine && mine.nodeName === self.nodeName) return { kind: "listed" };
  const others = peers.filter((p) => p.peerName !== self.peerName);
  return { kind: "add", cm: withPeers(cm, [...others, self]), fresh: !mine && peers.length > 0 };
}

/**
 * Peers to reclaim: those whose node is gone, and earlier peers of this peer's own node (the node
 * was reinstalled and got a new peer name). Only a complete, current node list may be passed.
 */
export function deadPeers(
  cm: ConfigMap,
  liveNodes: ReadonlySet<string>,
  self: PeerRecord,
): PeerRecord[] {
  return peerList(cm).filter((p) =>
    p.peerName !== self.peerName &&
    (!liveNodes.has(p.nodeName) || p.nodeName === self.nodeName)
  );
}

function lockExpired(lock: Lock, now: number): boolean {
  return now - Date.parse(lock.at) > LOCK_TTL_MS;
}

export type Claim =
  /** The peer is no longer listed: someone already reclaimed it. */
  | { kind: "gone" }
  /** A live peer holds the lock: leave it to them. */
  | { kind: "held"; holder: string }
  /** Write `cm` (with our lock); if that succeeds (no 409), we alone run rmpeer. */
  | { kind: "take"; cm: ConfigMap };

/**
 * Whether `self` may reclaim `dead`. A lock is respected unless its holder is itself dead (not
 * listed, or its node gone) or it is older than LOCK_TTL_MS.
 */
export function claim(
  cm: ConfigMap,
  dead: PeerRecord,
  self: string,
  liveNodes: ReadonlySet<string>,
  now: number,
): Claim {
  const peers = peerList(cm);
  const rec = peers.find((p) => p.peerName === dead.peerName);
  if (!rec || rec.nodeName !== dead.nodeName) return { kind: "gone" };
  const lock = lockOf(cm, dead.peerName);
  if (lock && lock.holder !== self && !lockExpired(lock, now)) {
    const holder = peers.find((p) => p.peerName === lock.holder);
    if (holder && liveNodes.has(holder.nodeName)) return { kind: "held", holder: lock.holder };
  }
  const value: Lock = { holder: self, at: new Date(now).toISOString() };
  return {
    kind: "take",
    cm: withAnnotations(cm, (a) => {
      a[lockKey(dead.peerName)] = JSON.stringify(value);
    }),
  };
}

/** After rmpeer succeeded: the dead peer leaves the list and its lock goes. */
export function completeReclaim(cm: ConfigMap, dead: PeerRecord): ConfigMap {
  const peers = peerList(cm).filter((p) => p.peerName !== dead.peerName);
  return withAnnotations(withPeers(cm, peers), (a) => {
    delete a[lockKey(dead.peerName)];
  });
}

/** After rmpeer failed: release our lock so that another peer (or a later pass) retries. */
export function releaseClaim(cm: ConfigMap, dead: PeerRecord, self: string): ConfigMap | null {
  if (lockOf(cm, dead.peerName)?.holder !== self) return null;
  return withAnnotations(cm, (a) => {
    delete a[lockKey(dead.peerName)];
  });
}
