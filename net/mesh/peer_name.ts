/**
 * Peer identity: the name (6 bytes written like a MAC, stable across restarts), and the uid (random
 * per start, so peers can tell a restarted peer from its previous life). Pure: no I/O.
 */
import { createHash, randomBytes } from "node:crypto";
import { formatMac, isMac, localUnicastMac } from "../addr/mod.ts";
import type { PeerName } from "./gossip_channel.ts";
import { WeavetsError } from "../errors.ts";

export class PeerNameError extends WeavetsError {
  override name = "PeerNameError";
  constructor(message: string, opts?: { cause?: unknown }) {
    super("invalid-input", message, opts);
  }
}

/** Validates and normalises a peer name ("AA:bb:..." → "aa:bb:..."). */
export function parsePeerName(text: string): PeerName {
  if (!isMac(text)) {
    throw new PeerNameError(
      `invalid peer name "${text}": expected 6 hex bytes like aa:bb:cc:dd:ee:ff`,
    );
  }
  return text.toLowerCase();
}

/**
 * Weave Net 2.8.1's default name (weave:net/uuid.go GetSystemPeerName, weave:net/mac.go
 * MACfromUUID): SHA-256 of the salt "9oBJ0Jmip-", the machine id file's bytes and the DMI
 * product UUID (or hypervisor UUID) file's bytes, exactly as read (trailing newlines included),
 * the first 6 bytes made a locally administered unicast MAC. Mixing in the product UUID keeps
 * cloned VMs (one machine id) apart. Either part may be missing, not both.
 */
export function weaveSystemPeerName(machineId: string | null, systemUuid: string | null): PeerName {
  const id = machineId ?? "";
  const uuid = systemUuid ?? "";
  if (id === "" && uuid === "") throw new PeerNameError("all system IDs are blank");
  const digest = createHash("sha256").update("9oBJ0Jmip-").update(id).update(uuid).digest();
  return formatMac(localUnicastMac(new Uint8Array(digest)));
}

/**
 * With --kube: the name from the Kubernetes node name, unique in its cluster and stable across
 * restarts and reinstalls, whatever the machine ids (a DaemonSet cannot set --name per node).
 */
export function peerNameFromNodeName(nodeName: string): PeerName {
  if (nodeName.trim() === "") throw new PeerNameError("empty node name");
  const digest = createHash("sha256").update("weavets node name\0").update(nodeName.trim())
    .digest();
  return formatMac(localUnicastMac(new Uint8Array(digest)));
}

/** A random name, for hosts without a machine id (persisted by the daemon in its datadir). */
export function randomPeerName(): PeerName {
  return formatMac(localUnicastMac(new Uint8Array(randomBytes(6))));
}

/** A fresh uid: 64 random bits as 16 hex digits. */
export function randomUid(): string {
  return randomBytes(8).toString("hex");
}

export const UID_RE = /^[0-9a-f]{16}$/;

/** 6 bytes of a (validated) peer name, for binary message headers. */
export function peerNameBytes(name: PeerName): Uint8Array {
  return new Uint8Array(name.split(":").map((h) => parseInt(h, 16)));
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** The name in 6 bytes (decoding topology messages calls this per entry: kept cheap). */
export function peerNameFromBytes(b: Uint8Array): PeerName {
  if (b.length !== 6) return formatMac(b); // formatMac says what is wrong
  return `${HEX[b[0]]}:${HEX[b[1]]}:${HEX[b[2]]}:${HEX[b[3]]}:${HEX[b[4]]}:${HEX[b[5]]}`;
}

/** 8 bytes as 16 lower-case hex digits (a uid). */
export function hex8(b: Uint8Array, o: number): string {
  let s = "";
  for (let i = o; i < o + 8; i++) s += HEX[b[i]];
  return s;
}
