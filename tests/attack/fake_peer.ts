/**
 * The made-up peers the attack clients join as: names, uids and signing keys derived from an
 * index or name, so the test (which signs records for them) and the client inside the attacker's
 * namespace (which handshakes as them) agree without passing keys around. A victim binds the
 * first key it sees for a name and refuses another, as it should: the same name always gets the
 * same key.
 */
import { createHash } from "node:crypto";
import { SigningKey } from "../../net/mesh/signing.ts";

/** A made-up peer name, 02:ff:…:99 (locally administered, never a real node's). */
export function fakeName(i: number): string {
  return `02:ff:${
    [(i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff, 0x99]
      .map((b) => b.toString(16).padStart(2, "0")).join(":")
  }`;
}

/** The uid a made-up peer with index `i` handshakes with. */
export const fakeUid = (i: number) => (0xa0000000 + i).toString(16).padStart(16, "0");

/** A made-up peer's signing key, the same for its name in every run. */
export function keyFor(name: string): SigningKey {
  return SigningKey.fromSeed(
    new Uint8Array(createHash("sha256").update(`weavets attack\0${name}`).digest()),
  );
}
