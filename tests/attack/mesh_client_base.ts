/**
 * What every command of the hostile mesh client (mesh_client.ts) shares: the spec the test passed
 * (its first argument, parsed once here: this module is the script's own, imported by nothing else),
 * the victim's address, the password's key, and a handshake as a made-up peer through the product's
 * own connection module.
 */
import { Buffer } from "node:buffer";
import { ControlConnection } from "../../net/mesh/connection.ts";
import { derivePsk } from "../../net/mesh/crypto.ts";
import { fakeName, fakeUid, keyFor } from "./fake_peer.ts";

// deno-lint-ignore no-explicit-any
export type Spec = Record<string, any>;
export const spec: Spec = JSON.parse(Deno.args[0]);
export const host: string = spec.host;
export const port: number = spec.port ?? 6783;
export const password: string | null = spec.password ?? null;
// Derived once, before any connection: the KDF is slow on purpose, and a hello that comes late
// is refused (hello deadline).
export const PSK = derivePsk(password);
export const TIMING = {
  heartbeatMs: 1_000,
  deadMs: 60_000,
  helloTimeoutMs: 8_000,
  handshakeTimeoutMs: 8_000,
};
export const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
export const unb64 = (s: string) => new Uint8Array(Buffer.from(s, "base64"));
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function connect(
  i: number,
  name = fakeName(i),
  signingKey = keyFor(name),
): Promise<ControlConnection> {
  const tcp = await Deno.connect({ hostname: host, port });
  return await ControlConnection.handshake(tcp, true, {
    self: { name, nickname: `attacker-${i}`, uid: fakeUid(i), port: 6783 },
    // Each fake peer has its own key (the victim binds it to the made-up name).
    signingKey,
    psk: PSK,
    authenticated: password !== null,
    timing: TIMING,
  });
}

export function close(c: { close(reason: string): void }) {
  try {
    c.close("attack done");
  } catch {
    // closed by the victim
  }
}

export function exists(path: string | undefined): boolean {
  if (!path) return false;
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
