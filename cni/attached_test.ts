import assert from "node:assert/strict";
import { checkTold, MAX_TOLD_IPS, resultAddresses } from "./attached.ts";
import { hostVethName } from "./names.ts";

const env = {
  CNI_COMMAND: "ADD",
  CNI_CONTAINERID: "c1",
  CNI_IFNAME: "eth0",
  CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web-0",
};
const host = hostVethName("c1", "eth0");
const result = { cniVersion: "1.0.0", ips: [{ address: "10.32.0.5/12", gateway: "10.32.0.1" }] };
const here = (name: string) => name === host;
const nothing = () => false;

Deno.test("told: an ADD the plugin did is the pod with its addresses and names, when its veth is here", () => {
  assert.deepEqual(checkTold(env, result, here), {
    command: "ADD",
    pod: { containerId: "c1", namespace: "ns1", name: "web-0", ips: ["10.32.0.5"] },
  });
  // Negative control: the same claim without the interface on this node is refused.
  const r = checkTold(env, result, nothing);
  assert.ok("refused" in r);
  assert.match(r.refused, new RegExp(`no interface ${host} on this node`));
  // Another pod's interface does not stand for this one.
  assert.ok("refused" in checkTold({ ...env, CNI_CONTAINERID: "c2" }, result, here));
});

Deno.test("told: a DEL is told only once the pod's veth is gone", () => {
  const del = { ...env, CNI_COMMAND: "DEL" };
  assert.deepEqual(checkTold(del, {}, nothing), { command: "DEL", containerId: "c1" });
  const r = checkTold(del, {}, here);
  assert.ok("refused" in r && /still on this node/.test(r.refused));
});

Deno.test("told: forged or broken claims are refused with a reason, never thrown", () => {
  const cases: Array<[Record<string, string>, Record<string, unknown>, RegExp]> = [
    [{ ...env, CNI_COMMAND: "CHECK" }, result, /only ADD and DEL/],
    [{ ...env, CNI_CONTAINERID: "" }, result, /CNI_CONTAINERID or CNI_IFNAME is missing/],
    [env, {}, /no addresses/],
    [env, { ips: "10.0.0.1" }, /no addresses/],
    [env, { ips: [{ address: "fe80::1/64" }] }, /not an IPv4 address/],
    [env, { ips: [{ address: "10.0.0.300/8" }] }, /not an IPv4 address/],
    [
      env,
      { ips: Array.from({ length: MAX_TOLD_IPS + 1 }, (_, i) => ({ address: `10.0.0.${i}` })) },
      /at most 16/,
    ],
    [{ ...env, CNI_ARGS: "garbage" }, result, /not KEY=VALUE/],
  ];
  for (const [e, out, why] of cases) {
    const r = checkTold(e, out, here);
    assert.ok("refused" in r, JSON.stringify([e, out]));
    assert.match(r.refused, why);
  }
});

Deno.test("resultAddresses: the addresses of a result, without prefix; junk entries skipped", () => {
  assert.deepEqual(
    resultAddresses({ ips: [{ address: "10.0.0.1/24" }, null, { address: 7 }, { address: "" }] }),
    ["10.0.0.1"],
  );
  assert.deepEqual(resultAddresses(undefined), []);
});
