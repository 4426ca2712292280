import assert from "node:assert/strict";
import { CniError, ErrorCode } from "./errors.ts";
import { formatResult, parseResult, type Result } from "./result.ts";

const FULL: Result = {
  cniVersion: "1.1.0",
  interfaces: [
    { name: "vethwepl0000000", mac: "aa:bb:cc:00:00:01", mtu: 1376 },
    { name: "eth0", mac: "aa:bb:cc:00:00:02", sandbox: "/run/netns/p", mtu: 1376 },
  ],
  ips: [{ address: "10.32.0.5/12", gateway: "10.32.0.1", interface: 1 }],
  routes: [{ dst: "0.0.0.0/0", gw: "10.32.0.1", mtu: 1376, priority: 10 }],
  dns: { nameservers: ["10.96.0.10"] },
};

const AS_1_0_0 = {
  cniVersion: "1.0.0",
  interfaces: [
    { name: "vethwepl0000000", mac: "aa:bb:cc:00:00:01" },
    { name: "eth0", mac: "aa:bb:cc:00:00:02", sandbox: "/run/netns/p" },
  ],
  ips: [{ address: "10.32.0.5/12", gateway: "10.32.0.1", interface: 1 }],
  routes: [{ dst: "0.0.0.0/0", gw: "10.32.0.1" }],
  dns: { nameservers: ["10.96.0.10"] },
};

Deno.test("result: a 1.1.0 config gets a 1.1.0 result with its fields, never an older version", () => {
  // libcni 1.0/1.1 cannot convert a cached 1.0.0 result to a 1.1.0 config on DEL (cni/result.ts).
  assert.deepEqual(formatResult(FULL, "1.1.0"), { ...FULL, cniVersion: "1.1.0" });
});

Deno.test("result: 1.0.0 drops the 1.1.0-only interface and route fields", () => {
  assert.deepEqual(formatResult(FULL, "1.0.0"), AS_1_0_0);
});

Deno.test("result: 0.3.0, 0.3.1 and 0.4.0 carry ips[].version", () => {
  for (const v of ["0.3.0", "0.3.1", "0.4.0"]) {
    const r = formatResult(
      { ...FULL, ips: [...FULL.ips!, { address: "fd00::5/64", interface: 1 }] },
      v,
    );
    assert.equal(r.cniVersion, v);
    assert.deepEqual(r.ips, [
      { version: "4", address: "10.32.0.5/12", gateway: "10.32.0.1", interface: 1 },
      { version: "6", address: "fd00::5/64", interface: 1 },
    ]);
    assert.deepEqual(r.routes, [{ dst: "0.0.0.0/0", gw: "10.32.0.1" }]);
  }
});

Deno.test("result: dns is always present (empty when none)", () => {
  assert.deepEqual(formatResult({ cniVersion: "" }, "1.0.0"), { cniVersion: "1.0.0", dns: {} });
});

Deno.test("result: any supported version reads back to the same internal result", () => {
  for (const v of ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]) {
    const written = JSON.parse(JSON.stringify(formatResult(FULL, v)));
    const back = parseResult(written, "prevResult");
    assert.equal(back.cniVersion, v);
    assert.deepEqual(back.ips, FULL.ips);
    assert.equal(back.interfaces![1].sandbox, "/run/netns/p");
    // Re-written, what the older version could carry survives.
    assert.deepEqual(formatResult(back, "1.0.0"), formatResult(FULL, "1.0.0"));
  }
});

Deno.test("result: unknown keys are ignored, malformed results are error 6", () => {
  const r = parseResult({ cniVersion: "1.0.0", ips: [{ address: "10.0.0.2/24", x: 1 }] }, "ipam");
  assert.deepEqual(r.ips, [{ address: "10.0.0.2/24" }]);
  for (const bad of [{ ips: "x" }, { ips: [{ gateway: "1.1.1.1" }] }, { routes: [{ gw: "x" }] }]) {
    assert.throws(() => parseResult(bad, "the ipam plugin's result"), (e: unknown) => {
      assert.ok(e instanceof CniError);
      assert.equal(e.code, ErrorCode.DecodeFailure);
      assert.match(e.message, /^the ipam plugin's result is not a valid CNI result: /);
      return true;
    });
  }
});
