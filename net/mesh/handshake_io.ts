/**
 * The handshake over a byte stream (docs/PROTOCOL.md §1-2): hellos, keys, then the client's
 * sealed identity and, only once it has been opened and checked, the server's. Each identity
 * carries the sender's Ed25519 key and its signature over the transcript, proving it holds the
 * key it names (the router then binds that key to the name). The decisions are handshake.ts's;
 * this drives them with the connection's reads and writes.
 */
import { describeCause } from "../cause.ts";
import { Buffer } from "node:buffer";
import {
  decodeMessage,
  encodeMessage,
  frame,
  type FrameReader,
  type Identity,
  type Message,
  Tag,
  type WireIdentity,
} from "./codec.ts";
import {
  CryptoError,
  deriveSession,
  generateKeyPair,
  type Psk,
  type Session,
  transcriptHash,
} from "./crypto.ts";
import {
  decodeHello,
  encodeHello,
  Handshake,
  HandshakeError,
  type Hello,
  helloBytesNeeded,
  helloLength,
  PROTOCOL_MAX,
  PROTOCOL_MIN,
} from "./handshake.ts";
import { type Clock, SYSTEM_CLOCK } from "./runtime.ts";
import { publicKeyFromText, publicKeyToText, type SigningKey, verifySignature } from "./signing.ts";

/** The domain of the identity signature (signing.ts signedBytes). */
export const HANDSHAKE_SIGNATURE_DOMAIN = "mesh/handshake";

/**
 * What a side signs to prove it holds the key it names: role, transcript and its name. The role
 * byte also carries the sender's "I trust you" (--trusted-subnets): 1 client, 2 server, plus 2
 * when trusting. So the claim is as authentic as the identity, and one signed without it cannot
 * be passed off as one with it, or the other way round.
 */
export function identityProof(
  transcript: Uint8Array,
  client: boolean,
  name: string,
  trusted = false,
): Uint8Array {
  const n = new TextEncoder().encode(name);
  const out = new Uint8Array(1 + transcript.length + n.length);
  out[0] = (client ? 1 : 2) + (trusted ? 2 : 0);
  out.set(transcript, 1);
  out.set(n, 1 + transcript.length);
  return out;
}

export interface HandshakeIo {
  write(bytes: Uint8Array): Promise<void>;
  /** The next bytes received; null once the peer closed. */
  read(): Promise<Uint8Array | null>;
  /** The connection's frame reader (its limit is the handshake's until the identity). */
  frames: FrameReader;
}

export interface HandshakeOptions {
  self: Identity;
  signingKey: SigningKey;
  psk: Psk;
  /** A secret is set (the hello's flag). */
  authenticated: boolean;
  /** This end's --trusted-subnets hold the peer's address: said to the peer (trust.ts). */
  trustRemote?: boolean;
  /** Default the system's (the session's rekey schedule starts now). */
  clock?: Pick<Clock, "now">;
}

export interface HandshakeResult {
  version: number;
  session: Session;
  remote: Identity;
  /** The peer's Ed25519 public key, proven by its signature over this handshake. */
  remoteKey: Uint8Array;
  /** The peer said its --trusted-subnets hold our address (signed: identityProof). */
  trustedByRemote: boolean;
  /** Frames that arrived right behind the peer's identity. */
  early: Uint8Array[];
}

/** Runs the handshake; throws HandshakeError saying why it failed. */
export async function runHandshake(
  io: HandshakeIo,
  client: boolean,
  opts: HandshakeOptions,
  helloArrived: () => void,
): Promise<HandshakeResult> {
  const keys = generateKeyPair();
  const local: Hello = {
    minVersion: PROTOCOL_MIN,
    maxVersion: PROTOCOL_MAX,
    authenticated: opts.authenticated,
    publicKey: keys.publicKey,
  };
  const hs = new Handshake<WireIdentity>(local, client);
  const mine = encodeHello(local);
  await io.write(mine);

  let buf: Uint8Array = new Uint8Array(0);
  for (let need = helloBytesNeeded(buf); need > 0; need = helloBytesNeeded(buf)) {
    const chunk = await io.read();
    if (chunk === null) {
      throw new HandshakeError("the peer closed the connection during the handshake");
    }
    buf = Buffer.concat([buf, chunk]);
  }
  helloArrived();
  // Anything after the hello is already framed data.
  const theirs = buf.slice(0, helloLength(buf));
  const step = hs.receiveHello(decodeHello(theirs));
  if (step.state === "refused") throw new HandshakeError(step.reason, step.permanent, step.kind);
  if (step.state !== "await-identity") throw new HandshakeError("handshake out of order");
  const transcript = client ? transcriptHash(mine, theirs) : transcriptHash(theirs, mine);
  let session: Session;
  try {
    session = deriveSession(
      keys,
      step.remoteKey,
      opts.psk,
      transcript,
      client,
      (opts.clock ?? SYSTEM_CLOCK).now(),
    );
  } catch (e) {
    throw new HandshakeError(describeCause(e));
  }
  const sendIdentity = () => {
    const trusted = opts.trustRemote === true;
    const sig = opts.signingKey.sign(
      HANDSHAKE_SIGNATURE_DOMAIN,
      identityProof(transcript, client, opts.self.name, trusted),
    );
    const identity: WireIdentity = {
      ...opts.self,
      key: publicKeyToText(opts.signingKey.publicKey),
      sig: Buffer.from(sig).toString("base64url"),
      ...(trusted ? { trusted: true as const } : {}),
    };
    return io.write(frame(session.sealer.seal(encodeMessage({ tag: Tag.identity, identity }))));
  };
  // The client proves it knows the secret first; the server seals nothing before checking it.
  if (step.send) await sendIdentity();

  const pending = io.frames.push(buf.subarray(theirs.length));
  while (pending.length === 0) {
    const chunk = await io.read();
    if (chunk === null) {
      throw new HandshakeError(
        opts.authenticated
          ? "the peer closed the connection before identifying itself (wrong password or " +
            "cluster secret?)"
          : "the peer closed the connection before identifying itself",
        opts.authenticated,
        opts.authenticated ? "auth-failed" : "handshake-failed",
      );
    }
    pending.push(...io.frames.push(chunk));
  }
  let first: Message;
  try {
    first = decodeMessage(session.opener.open(pending.shift()!));
  } catch (e) {
    if (e instanceof CryptoError) {
      throw new HandshakeError(
        "authentication failed: the peer does not have our password or cluster secret",
        true,
        "auth-failed",
      );
    }
    throw new HandshakeError(`bad identity: ${describeCause(e)}`);
  }
  if (first.tag !== Tag.identity) {
    throw new HandshakeError("the peer did not identify itself first");
  }
  const { key, sig, trusted, ...remote } = first.identity;
  const remoteKey = publicKeyFromText(key);
  const proof = identityProof(transcript, !client, remote.name, trusted === true);
  if (
    !verifySignature(remoteKey, HANDSHAKE_SIGNATURE_DOMAIN, proof, Buffer.from(sig, "base64url"))
  ) {
    throw new HandshakeError(
      "the peer's identity signature does not verify: it does not hold the key it names",
      false,
      "auth-failed",
    );
  }
  const done = hs.receiveIdentity(first.identity);
  if (done.state !== "established") throw new HandshakeError("handshake out of order");
  if (done.send) await sendIdentity();
  return {
    version: done.version,
    session,
    remote,
    remoteKey,
    trustedByRemote: trusted === true,
    early: pending,
  };
}
