/**
 * mesh_client.ts commands that probe rather than join: `oracle` (does what the victim sends before
 * we prove the password open to an offline guess?) and `listen` (does the victim dial us?).
 */
import { Buffer } from "node:buffer";
import { describeCause } from "../../net/cause.ts";
import { FrameReader, MAX_FRAME } from "../../net/mesh/codec.ts";
import {
  derivePsk,
  deriveSession,
  generateKeyPair,
  transcriptHash,
} from "../../net/mesh/crypto.ts";
import {
  decodeHello,
  encodeHello,
  helloLength,
  PROTOCOL_MAX,
  PROTOCOL_MIN,
} from "../../net/mesh/handshake.ts";
import { close, host, port, sleep, spec } from "./mesh_client_base.ts";

/**
 * Connects without knowing the password, records what the victim sends before we prove anything,
 * then tries `guesses` offline against the first frame after its hello with the product's own key
 * schedule: a guess that opens it is an offline-guessing oracle.
 */
export async function oracle(): Promise<unknown> {
  const conn = await Deno.connect({ hostname: host, port });
  const keys = generateKeyPair();
  const hello = encodeHello({
    minVersion: PROTOCOL_MIN,
    maxVersion: PROTOCOL_MAX,
    authenticated: true,
    publicKey: keys.publicKey,
  });
  await conn.write(hello);
  const got: Uint8Array[] = [];
  const timer = setTimeout(() => close(conn), spec.waitMs ?? 3_000);
  const buf = new Uint8Array(65536);
  try {
    for (let n; (n = await conn.read(buf)) !== null;) got.push(buf.slice(0, n));
  } catch {
    // closed by the timer or the victim
  }
  clearTimeout(timer);
  close(conn);
  const bytes = new Uint8Array(Buffer.concat(got));
  let frames: Uint8Array[] = [];
  let theirKey: Uint8Array | undefined;
  let theirHello = new Uint8Array(0);
  let error = "";
  try {
    const end = helloLength(bytes);
    theirKey = decodeHello(bytes.subarray(0, end)).publicKey;
    theirHello = bytes.slice(0, end);
    frames = new FrameReader(() => MAX_FRAME).push(bytes.subarray(end));
  } catch (e) {
    error = describeCause(e);
  }
  const opened: string[] = [];
  if (theirKey && frames.length > 0) {
    for (const g of spec.guesses as string[]) {
      try {
        // We dialled: the transcript is our hello, then theirs.
        const th = transcriptHash(hello, theirHello);
        deriveSession(keys, theirKey, derivePsk(g), th, true, 0).opener.open(frames[0]);
        opened.push(g);
      } catch {
        // wrong guess
      }
    }
  }
  return { received: bytes.length, frames: frames.length, opened, error };
}

export async function listen(): Promise<unknown> {
  const accepted: Record<string, number> = {};
  const listeners = (spec.ports as number[]).map((p) =>
    Deno.listen({ hostname: "0.0.0.0", port: p })
  );
  const loops = listeners.map(async (l, i) => {
    try {
      for await (const c of l) {
        accepted[spec.ports[i]] = (accepted[spec.ports[i]] ?? 0) + 1;
        close(c);
      }
    } catch {
      // closed
    }
  });
  await sleep(spec.durationMs);
  for (const l of listeners) close(l);
  await Promise.all(loops);
  return { accepted };
}
