import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeRecords,
  encodeRecords,
  MacGossipState,
  nextVersion,
  type PeerRecord,
} from "./mac_gossip.ts";

const rec = (peer: number, version: number, macs: string[] = []): PeerRecord => ({
  peer: `02:00:00:00:00:0${peer}`,
  version,
  addr: `192.168.0.${peer}`,
  sleevePort: 6783,
  fastdpPort: 6784,
  fastdp: true,
  macs,
});

Deno.test("gossip records round-trip and malformed ones are refused", () => {
  const r = [rec(1, 3, ["0A:00:00:00:00:01"])];
  assert.deepEqual(decodeRecords(encodeRecords(r)), [{ ...r[0], macs: ["0a:00:00:00:00:01"] }]);
  const bad = new TextEncoder().encode(JSON.stringify([{ ...r[0], addr: "x" }]));
  assert.throws(() => decodeRecords(bad));
  assert.throws(() => decodeRecords(new TextEncoder().encode("{")));
});

Deno.test("merge keeps the newest record per peer and reports only news", () => {
  const s = new MacGossipState();
  assert.equal(s.merge([rec(1, 2)]).length, 1);
  assert.equal(s.merge([rec(1, 2)]).length, 0, "idempotent");
  assert.equal(s.merge([rec(1, 1, ["0a:00:00:00:00:01"])]).length, 0, "older loses");
  assert.deepEqual(s.get("02:00:00:00:00:01")!.macs, []);
  s.retain(new Set());
  assert.equal(s.all().length, 0);
  assert.ok(nextVersion(5, 3) === 6 && nextVersion(5, 100) === 100);
});

Deno.test("merge converges regardless of order (CRDT property)", () => {
  const arb = fc.array(fc.tuple(fc.integer({ min: 1, max: 3 }), fc.nat(20)), { maxLength: 12 });
  fc.assert(fc.property(arb, (ups) => {
    const records = ups.map(([p, v]) =>
      rec(p, v, [`0a:00:00:00:00:${String(v).padStart(2, "0")}`])
    );
    const s1 = new MacGossipState();
    const s2 = new MacGossipState();
    for (const r of records) s1.merge([r]);
    for (const r of [...records].reverse()) s2.merge([r, r]);
    const norm = (s: MacGossipState) =>
      s.all().map((r) => [r.peer, r.version]).sort((a, b) =>
        String(a[0]).localeCompare(String(b[0]))
      );
    assert.deepEqual(norm(s1), norm(s2));
  }));
});
