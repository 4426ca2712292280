import assert from "node:assert/strict";
import { Logger } from "../log.ts";
import { parseCacheEntry, planClaims } from "./existing.ts";
import { createExistingClaims } from "./existing_claims.ts";

const pods = [
  { cidr: "10.32.0.2/12", veth: "vethwepl1a2b3c4", ifname: "eth0" },
  { cidr: "10.32.0.3/12", veth: "vethwepl5d6e7f8", ifname: "eth0" },
  { cidr: "10.32.0.1/12", veth: "vethweplodd", ifname: "eth0" }, // same as the bridge: once
];

Deno.test("planClaims: the bridge as weave:expose, each pod once, CNI keys from the cache", () => {
  const cache = [{ ip: "10.32.0.3", id: "c0ffee", ifname: "eth0" }];
  assert.deepEqual(planClaims(["10.32.0.1/12", "10.32.0.9/12"], pods, cache), [
    { key: { id: "weave:expose", ifname: "" }, ip: "10.32.0.1" },
    { key: { id: "weave:existing:vethwepl1a2b3c4", ifname: "eth0" }, ip: "10.32.0.2" },
    { key: { id: "c0ffee", ifname: "eth0" }, ip: "10.32.0.3" },
  ]);
  assert.deepEqual(planClaims([], [], []), []);
});

Deno.test("parseCacheEntry: libcni's cache (1.0 and 0.3 results); anything else is nothing", () => {
  const v1 = JSON.stringify({
    kind: "cniCacheV1",
    containerId: "abc",
    ifName: "eth0",
    networkName: "weave",
    result: { cniVersion: "0.3.0", ips: [{ version: "4", address: "10.32.0.5/12" }] },
  });
  assert.deepEqual(parseCacheEntry(v1), [{ ip: "10.32.0.5", id: "abc", ifname: "eth0" }]);
  const old = JSON.stringify({
    containerId: "d",
    ifName: "eth1",
    result: { ip4: { ip: "10.40.0.2/12" } },
  });
  assert.deepEqual(parseCacheEntry(old), [{ ip: "10.40.0.2", id: "d", ifname: "eth1" }]);
  for (
    const bad of [
      "",
      "{",
      "[]",
      '{"containerId":""}',
      JSON.stringify({ containerId: "x", ifName: "e", result: { ips: [{ address: "evil" }] } }),
    ]
  ) {
    assert.deepEqual(parseCacheEntry(bad), []);
  }
});

Deno.test("existing claims: waits through IPAM's waits, reports refusals, then ready", async () => {
  const calls: string[] = [];
  let waits = 2;
  const ipam = {
    allocations: () => [{ ip: 999 }],
    claim(key: { id: string }, ip: number) {
      calls.push(`claim ${key.id} ${ip}`);
      if (waits-- > 0) return Promise.resolve({ ok: false as const, wait: "awaiting consensus" });
      if (key.id === "weave:existing:vethwepl1a2b3c4") {
        return Promise.resolve({ ok: false as const, status: 409, error: "owned by peer B" });
      }
      return Promise.resolve({ ok: true as const, ip });
    },
    claimExisting(key: { id: string }, ip: number) {
      calls.push(`conflict ${key.id} ${ip}`);
      return Promise.resolve({ ok: false as const, status: 409, error: "owned by peer B" });
    },
  };
  const c = createExistingClaims({
    bridge: "weave",
    ipam,
    log: new Logger({ sink: { write() {} } }),
    scan: { bridgeCidrs: () => ["10.32.0.1/12"], pods: () => pods.slice(0, 2), cache: () => [] },
  });
  c.start();
  assert.equal(c.ready(), "claiming 3 address(es) in use on this node");
  await c.settled();
  assert.equal(c.ready(), null);
  assert.equal(calls.filter((x) => x.startsWith("conflict")).length, 1);
  assert.deepEqual(c.status().fields[0], ["Claimed", "2 of 3"]);
  assert.match(c.status().fields[1][1], /10\.32\.0\.2 .*owned by peer B/);

  // A restart: IPAM holds them already, under the pods' own keys: no claims, no conflicts.
  calls.splice(0);
  const again = createExistingClaims({
    bridge: "weave",
    ipam: { ...ipam, allocations: () => [169869313, 169869314, 169869315].map((ip) => ({ ip })) },
    log: new Logger({ sink: { write() {} } }),
    scan: { bridgeCidrs: () => ["10.32.0.1/12"], pods: () => pods.slice(0, 2), cache: () => [] },
  });
  again.start();
  await again.settled();
  assert.equal(calls.length, 0, calls.join(", "));
  assert.deepEqual(again.status().fields, [["Claimed", "3 of 3"]]);
});
