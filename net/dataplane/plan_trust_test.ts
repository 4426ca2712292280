/**
 * planPaths with a password and --trusted-subnets (issue 17 with issue 13's all-or-nothing):
 * only mutually trusted peers whose address is inside our subnets get the plaintext fast path;
 * everyone else stays encrypted, with no FDB entry and no probe; the VXLAN device is wanted only
 * while some peer may be sent plaintext.
 */
import assert from "node:assert/strict";
import type { PeerRecord } from "./fastpath/mac_gossip.ts";
import { probeMac } from "./fastpath/probe.ts";
import { TrustedSubnets } from "../mesh/trust.ts";
import { type Plan, type PlanInput, planPaths, renderReason, vxlanWanted } from "./plan.ts";
import { encryptionNote, unencryptedPeers } from "./dataplane_status.ts";

const SELF = "02:00:00:00:00:01", B = "02:00:00:00:00:02", C = "02:00:00:00:00:03";
const rec = (peer: string, addr: string): PeerRecord => ({
  peer,
  version: 1,
  addr,
  sleevePort: 6783,
  fastdpPort: 6784,
  fastdp: true,
  macs: [`0a:00:00:00:00:${peer.slice(-2)}`],
});
// B inside the trusted subnet, C outside it.
const records = [rec(SELF, "10.9.0.1"), rec(B, "10.9.0.2"), rec(C, "172.16.0.3")];
const T = 1_000_000;
const subnets = new TrustedSubnets(["10.9.0.0/24"]);

function input(trusted: string[], over: Partial<PlanInput> = {}): PlanInput {
  return {
    mesh: {
      self: SELF,
      known: new Set([SELF, B, C]),
      reachable: new Set([B, C]),
      keyed: new Set([B, C]),
      trusted: new Set(trusted),
    },
    records,
    fastdp: true,
    encrypted: true,
    trustedSubnets: subnets,
    // Both would answer probes: only trust may decide.
    lastReply: new Map([[B, T - 100], [C, T - 100]]),
    previous: undefined,
    now: T,
    probeTimeoutMs: 5000,
    adoptUntil: 0,
    ...over,
  };
}
const summary = (p: Plan) => p.paths.map((x) => `${x.peer.slice(-2)} ${x.path} ${x.reason.kind}`);
const dsts = (p: Plan) => [...new Set(p.fdb.map((e) => e.dst))];

Deno.test("trust plan: a mutually trusted peer in our subnet goes plaintext; the other stays encrypted", () => {
  const p = planPaths(input([B]));
  assert.deepEqual(summary(p), ["02 fastdp trusted-unencrypted", "03 sleeve encrypted"]);
  assert.deepEqual([...p.plaintext], [B]);
  assert.deepEqual(dsts(p), ["10.9.0.2"], "FDB entries (and probes) only towards the trusted peer");
  assert.deepEqual(p.probe, [B]);
  assert.ok(!p.probeOwners.has(probeMac(C)));
  assert.ok(vxlanWanted({ fastdp: true, encrypted: true, plan: p }));
  assert.match(renderReason(p.paths[0].reason), /NOT encrypted/);
  assert.doesNotMatch(renderReason(p.paths[0].reason), /^encrypted/);
});

Deno.test("trust plan: the peer's claim alone, or our trust of an address elsewhere, gives no plaintext", () => {
  // C's connection is "mutually trusted" (it lied, or our subnets held its connection address),
  // but the address its record sends from is outside our subnets: still encrypted.
  const p = planPaths(input([C]));
  assert.deepEqual(summary(p), ["02 sleeve encrypted", "03 sleeve encrypted"]);
  assert.deepEqual(p.fdb, []);
  assert.deepEqual(p.probe, []);
  assert.equal(p.plaintext.size, 0);
  assert.ok(!vxlanWanted({ fastdp: true, encrypted: true, plan: p }), "no device: nobody trusted");
  // Negative control: the same input with C inside the subnets goes plaintext.
  const wide = planPaths(input([C], { trustedSubnets: new TrustedSubnets(["172.16.0.0/16"]) }));
  assert.deepEqual(summary(wide), ["02 sleeve encrypted", "03 fastdp trusted-unencrypted"]);
});

Deno.test("trust plan: no trusted subnets or no mutual trust: everything encrypted, no device", () => {
  for (const i of [input([B], { trustedSubnets: undefined }), input([])]) {
    const p = planPaths(i);
    assert.deepEqual(summary(p), ["02 sleeve encrypted", "03 sleeve encrypted"]);
    assert.deepEqual(p.fdb, []);
    assert.ok(!vxlanWanted({ fastdp: true, encrypted: true, plan: p }));
  }
  assert.ok(vxlanWanted({ fastdp: true, encrypted: false }), "no password: the device as before");
  assert.ok(!vxlanWanted({ fastdp: false, encrypted: false }));
});

Deno.test("trust plan: a trusted peer waiting for probes is on the encrypted userspace path", () => {
  const p = planPaths(input([B], { lastReply: new Map() }));
  assert.deepEqual(summary(p), ["02 sleeve awaiting-probe", "03 sleeve encrypted"]);
  assert.deepEqual([...p.plaintext], [B], "the device is wanted so probes can pass");
  assert.deepEqual(p.fdb.map((e) => e.mac), [probeMac(B)], "only the probe entry");
});

Deno.test("trust plan: a trusted fast peer whose connection drops keeps the path only inside the subnets", () => {
  const first = planPaths(input([B]));
  const down = input([], { previous: first });
  const kept = planPaths({ ...down, mesh: { ...down.mesh, reachable: new Set([C]) } });
  assert.deepEqual(summary(kept), ["02 fastdp disconnected-kept", "03 sleeve encrypted"]);
  assert.deepEqual([...kept.plaintext], [B]);
  const narrowed = planPaths({
    ...down,
    mesh: { ...down.mesh, reachable: new Set([C]) },
    trustedSubnets: new TrustedSubnets(["10.8.0.0/24"]),
  });
  assert.deepEqual(summary(narrowed), ["03 sleeve encrypted"]);
  assert.equal(narrowed.plaintext.size, 0);
});

Deno.test("trust status: the Sleeve line names the unencrypted peers and never calls them encrypted", () => {
  const p = planPaths(input([B]));
  const plain = unencryptedPeers(true, p);
  assert.deepEqual(plain, [B]);
  const note = encryptionNote(true, undefined, "wasm", plain);
  assert.match(note, /except 1 trusted peer\(s\) NOT encrypted on the fast path/);
  assert.ok(note.endsWith(B));
  // Control: nobody trusted → plainly encrypted; no password → no fast peer counts as "unencrypted".
  assert.equal(
    encryptionNote(true, undefined, "wasm", unencryptedPeers(true, planPaths(input([])))),
    ", encrypted (ChaCha20-Poly1305 on wasm)",
  );
  assert.deepEqual(unencryptedPeers(false, p), []);
});
