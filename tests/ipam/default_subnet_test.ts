/**
 * Weave's --ipalloc-default-subnet: an allocation that names no subnet is made inside it and
 * answered with its prefix length; /ipinfo/defaultsubnet names it (one in-memory peer).
 */
import assert from "node:assert/strict";
import { cidrContains, parseCidr } from "../../net/addr/mod.ts";
import { Registry } from "../../net/api/metrics.ts";
import { createIpam } from "../../net/ipam/component.ts";
import { IpamConfigError } from "../../net/ipam/init_mode.ts";
import { IpamService } from "../../net/ipam/service.ts";
import { FakeNetwork } from "../../net/ipam/testing/fake_mesh.ts";
import { Logger } from "../../net/log.ts";
import { call } from "./routes.ts";

const quiet = new Logger({ sink: { write() {} }, json: true });

function single(defaultSubnet?: string) {
  return createIpam({
    range: "10.32.0.0/12",
    init: "consensus=1",
    defaultSubnet,
    datadir: null,
    mesh: new FakeNetwork().join("0a:00:00:00:00:01", "n1"),
    registry: new Registry(),
    log: quiet,
    tickMs: 20,
  });
}

Deno.test("IPAM: --ipalloc-default-subnet is where unqualified allocations go, with its prefix", async () => {
  const svc = single("10.32.4.0/24");
  try {
    assert.equal((await call(svc, "GET", "/ipinfo/defaultsubnet")).text, "10.32.4.0/24");
    const subnet = parseCidr("10.32.4.0/24");
    for (let i = 0; i < 20; i++) {
      const r = await call(svc, "POST", `/ip/c${i}`);
      assert.equal(r.status, 200, r.text);
      const c = parseCidr(r.text);
      assert.equal(c.prefix, 24, r.text);
      assert.ok(cidrContains(subnet, c.ip), `${r.text} inside 10.32.4.0/24`);
    }
    assert.match(
      await svc.allocateCidr({ id: "weave:expose", ifname: "" }),
      /^10\.32\.4\.\d+\/24$/,
    );
    // A subnet asked for explicitly still wins.
    assert.match((await call(svc, "POST", "/ip/x/10.33.0.0/16")).text, /^10\.33\.\d+\.\d+\/16$/);
  } finally {
    svc.stop();
  }
});

Deno.test("IPAM: without a default subnet, the range (negative control)", async () => {
  const svc = single();
  try {
    assert.equal((await call(svc, "GET", "/ipinfo/defaultsubnet")).text, "10.32.0.0/12");
    assert.match((await call(svc, "POST", "/ip/c1")).text, /^10\.3[2-9]\.\d+\.\d+\/12$/);
  } finally {
    svc.stop();
  }
  assert.throws(
    () =>
      new IpamService({
        range: "10.32.0.0/12",
        init: "consensus",
        defaultSubnet: "10.64.0.0/24",
        datadir: null,
        log: quiet,
      }),
    (e) => e instanceof IpamConfigError && /not inside --ipalloc-range/.test(e.message),
  );
});
