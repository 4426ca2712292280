/**
 * TEST HELPER: the largest ring message of a supported cluster — 2,000 peers, each of which has
 * donated the last 64 addresses of its initial share to the next one, signing the donation: 4,000
 * tokens, 2,000 of them signed (~444 KB). A peer that knows only the initial split checks all
 * 2,000 signatures to take it in (the worst admissible merge).
 */
import { Ring } from "../../net/ipam/ring.ts";
import { type Cidr, parseCidr } from "../../net/addr/mod.ts";
import { encodeGossip, IPAM_WIRE_VERSION } from "../../net/ipam/wire.ts";
import { type Entry, sigToText, TOKEN_DOMAIN, tokenBytes } from "../../net/ipam/token.ts";
import { TestKeyring } from "../../net/mesh/testing/keyring.ts";

export interface BigRing {
  range: Cidr;
  names: string[];
  keyring: TestKeyring;
  entries: Entry[];
  seed: string;
  bytes: Uint8Array;
}

/** `forged`: each donation is signed by the recipient's key in the donor's name (all invalid). */
export function bigRing(peers = 2000, forged = false): BigRing {
  const range = parseCidr("10.32.0.0/12");
  const names = Array.from(
    { length: peers },
    (_, i) =>
      `0d:00:00:00:${(i >> 8).toString(16).padStart(2, "0")}:${
        (i & 255).toString(16).padStart(2, "0")
      }`,
  );
  const start = range.ip, end = start + 2 ** 20;
  const keyring = new TestKeyring();
  const seeded = Ring.seeded(start, end, names);
  const entries: Entry[] = [...seeded.entries()];
  for (const [i, name] of names.entries()) {
    const s = seeded.ownedBy(name)[0];
    const body = {
      start: s.end - 64,
      owner: names[(i + 1) % names.length],
      version: 1,
      takeover: false,
      author: name,
    };
    const sig = keyring.key(forged ? body.owner : name).sign(
      TOKEN_DOMAIN,
      tokenBytes(seeded.scope, body),
    );
    entries.push({ ...body, sig: sigToText(sig) });
  }
  entries.sort((x, y) => x.start - y.start);
  const ring = { seed: seeded.seed!, entries };
  const bytes = encodeGossip({ v: IPAM_WIRE_VERSION, range: "10.32.0.0/12", ring, free: {} });
  return { range, names, keyring, entries, seed: seeded.seed!, bytes };
}
