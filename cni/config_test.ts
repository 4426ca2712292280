import assert from "node:assert/strict";
import { parseConfig } from "./config.ts";
import { CniError, ErrorCode } from "./errors.ts";

const BASE = { cniVersion: "1.0.0", name: "weave", type: "weavets" };

function fails(input: string | object, code: number, msg: RegExp): void {
  const text = typeof input === "string" ? input : JSON.stringify(input);
  assert.throws(() => parseConfig(text), (e: unknown) => {
    assert.ok(e instanceof CniError, `expected CniError, got ${e}`);
    assert.equal(e.code, code, `code for ${text}: ${e.message}`);
    assert.match(e.message, msg);
    return true;
  });
}

Deno.test("config: minimal config gets the documented defaults", () => {
  const c = parseConfig(JSON.stringify(BASE));
  assert.equal(c.bridge, "weave");
  assert.equal(c.hairpinMode, true);
  assert.equal(c.mtu, undefined);
  assert.deepEqual(c.ipam, { kind: "daemon" });
  assert.deepEqual(c.requestedIps, []);
});

Deno.test("config: every field is read; unknown keys are allowed", () => {
  const c = parseConfig(JSON.stringify({
    ...BASE,
    cniVersion: "1.1.0",
    bridge: "br-pods",
    mtu: 1376,
    hairpinMode: false,
    ipam: { type: "host-local", ranges: [[{ subnet: "10.1.0.0/24" }]] },
    dns: { nameservers: ["10.96.0.10"], search: ["svc.cluster.local"] },
    routes: [{ dst: "10.96.0.0/12", gw: "10.32.0.1" }, { dst: "0.0.0.0/0" }],
    runtimeConfig: { ips: ["10.32.0.9/12"], mac: "0a:58:0a:20:00:09", portMappings: [] },
    daemonAddress: "127.0.0.1:7000",
    somethingNew: { x: 1 },
    prevResult: {
      cniVersion: "0.4.0",
      interfaces: [{ name: "eth0", mac: "0a:58:0a:20:00:09", sandbox: "/run/netns/x" }],
      ips: [{ version: "4", address: "10.32.0.9/12", interface: 0 }],
    },
    "cni.dev/valid-attachments": [{ containerID: "abc", ifname: "eth0" }],
  }));
  assert.equal(c.cniVersion, "1.1.0");
  assert.equal(c.bridge, "br-pods");
  assert.equal(c.mtu, 1376);
  assert.equal(c.hairpinMode, false);
  assert.deepEqual(c.ipam, { kind: "delegate", type: "host-local" });
  assert.deepEqual(c.dns, { nameservers: ["10.96.0.10"], search: ["svc.cluster.local"] });
  assert.deepEqual(c.routes, [{ dst: "10.96.0.0/12", gw: "10.32.0.1" }, { dst: "0.0.0.0/0" }]);
  assert.deepEqual(c.requestedIps, ["10.32.0.9/12"]);
  assert.equal(c.mac, "0a:58:0a:20:00:09");
  assert.equal(c.daemonAddress, "127.0.0.1:7000");
  assert.deepEqual(c.prevResult?.ips, [{ address: "10.32.0.9/12", interface: 0 }]);
  assert.deepEqual(c.validAttachments, [{ containerID: "abc", ifname: "eth0" }]);
});

Deno.test("config: daemonAddress may be a Unix socket's path, as Weave Net's --http-addr", () => {
  const c = parseConfig(JSON.stringify({ ...BASE, daemonAddress: "/run/weave/weave.sock" }));
  assert.equal(c.daemonAddress, "/run/weave/weave.sock");
});

Deno.test("config: args.cni.ips are honoured when the ips capability is absent", () => {
  const c = parseConfig(JSON.stringify({ ...BASE, args: { cni: { ips: ["10.32.0.7"] } } }));
  assert.deepEqual(c.requestedIps, ["10.32.0.7"]);
});

Deno.test("config: decode failures are error 6", () => {
  fails("", ErrorCode.DecodeFailure, /not valid JSON/);
  fails("{name:", ErrorCode.DecodeFailure, /not valid JSON/);
  fails("[]", ErrorCode.DecodeFailure, /must be a JSON object, got an array/);
  fails("null", ErrorCode.DecodeFailure, /got null/);
  fails('"x"', ErrorCode.DecodeFailure, /got string/);
});

Deno.test("config: cniVersion missing is 7, unsupported is 1", () => {
  fails({ name: "n", type: "weavets" }, ErrorCode.InvalidConfig, /no "cniVersion"/);
  fails({ ...BASE, cniVersion: 1 }, ErrorCode.InvalidConfig, /no "cniVersion"/);
  for (const v of ["0.1.0", "0.2.0", "1.2.0", "2", "latest"]) {
    fails({ ...BASE, cniVersion: v }, ErrorCode.IncompatibleVersion, /not supported.*1\.1\.0/);
  }
});

Deno.test("config: each malformed field is error 7 naming the field", () => {
  const cases: [object, RegExp][] = [
    [{ cniVersion: "1.0.0", type: "weavets" }, /^invalid network config: name: /],
    [{ ...BASE, name: "" }, /name: "" must start with a letter/],
    [{ ...BASE, name: "-bad" }, /name: "-bad"/],
    [{ ...BASE, name: "a b" }, /name: "a b"/],
    [{ cniVersion: "1.0.0", name: "n" }, /type: /],
    [{ ...BASE, type: "" }, /type: must name the plugin/],
    [{ ...BASE, bridge: "a/b" }, /bridge: "a\/b" is invalid: .*cannot contain '\/'/],
    [{ ...BASE, bridge: "0123456789abcdef" }, /bridge: .* is 16 bytes, at most 15 allowed/],
    [{ ...BASE, bridge: ".." }, /bridge: "\.\." is invalid: interface name cannot be "\.\."/],
    [{ ...BASE, bridge: 7 }, /bridge: /],
    [{ ...BASE, mtu: 10 }, /mtu: /],
    [{ ...BASE, mtu: 70000 }, /mtu: /],
    [{ ...BASE, mtu: 1500.5 }, /mtu: /],
    [{ ...BASE, mtu: "1500" }, /mtu: /],
    [{ ...BASE, hairpinMode: "yes" }, /hairpinMode: /],
    [{ ...BASE, ipam: { type: "" } }, /ipam\.type: must name the IPAM plugin/],
    [{ ...BASE, ipam: { type: 7 } }, /ipam\.type: /],
    [{ ...BASE, ipam: "host-local" }, /ipam: /],
    [{ ...BASE, ipam: { subnet: "10.0.0.0" } }, /ipam\.subnet: .*missing "\/prefix"/],
    [{ ...BASE, ipam: { gateway: "10.0.0" } }, /ipam\.gateway: invalid IPv4/],
    [{ ...BASE, ipam: { routes: [{ dst: "x" }] } }, /ipam\.routes\[0\]\.dst: /],
    [{ ...BASE, dns: { nameservers: "8.8.8.8" } }, /dns\.nameservers: /],
    [{ ...BASE, routes: [{ dst: "10.0.0.0" }] }, /routes\[0\]\.dst: .*missing "\/prefix"/],
    [{ ...BASE, routes: [{ dst: "10.0.0.0/33" }] }, /routes\[0\]\.dst: .*prefix must be 0\.\.32/],
    [{ ...BASE, routes: [{ dst: "fd00::/8" }] }, /routes\[0\]\.dst: .*IPv4-only/],
    [{ ...BASE, routes: [{ dst: "0.0.0.0/0", gw: "10.0.0" }] }, /routes\[0\]\.gw: invalid IPv4/],
    [{ ...BASE, runtimeConfig: { ips: ["10.32.0.300/12"] } }, /runtimeConfig\.ips\[0\]: /],
    [{ ...BASE, runtimeConfig: { ips: "10.32.0.3/12" } }, /runtimeConfig\.ips: /],
    [{ ...BASE, runtimeConfig: { mac: "zz:00:00:00:00:00" } }, /runtimeConfig\.mac: invalid MAC/],
    [{ ...BASE, args: { cni: { ips: ["10.1.2"] } } }, /args\.cni\.ips\[0\]: invalid IPv4/],
    [{ ...BASE, daemonAddress: "localhost" }, /daemonAddress: "localhost" is not host:port/],
    [{ ...BASE, daemonAddress: "127.0.0.1:0" }, /daemonAddress: /],
    [{ ...BASE, daemonAddress: "run/weave.sock" }, /daemonAddress: .* or a socket's path/],
    [{ ...BASE, "cni.dev/valid-attachments": [{ containerID: "a" }] }, /valid-attachments/],
  ];
  for (const [conf, msg] of cases) {
    fails(conf, ErrorCode.InvalidConfig, msg);
    fails(conf, ErrorCode.InvalidConfig, /fix the network config file$/);
  }
});

Deno.test("config: malformed prevResult is error 6 naming prevResult", () => {
  fails({ ...BASE, prevResult: { ips: [{ address: 5 }] } }, ErrorCode.DecodeFailure, /prevResult/);
});

Deno.test("config: isGateway and ipMasq are unsupported fields (error 2)", () => {
  fails({ ...BASE, isGateway: true }, ErrorCode.UnsupportedField, /"isGateway": true .* remove/);
  fails({ ...BASE, ipMasq: true }, ErrorCode.UnsupportedField, /"ipMasq"/);
  assert.equal(parseConfig(JSON.stringify({ ...BASE, ipMasq: false })).name, "weave");
});

Deno.test("config: ipam.type must be a plain name: a path would exec a binary outside CNI_PATH", () => {
  for (const type of ["../../../tmp/evil", "/usr/bin/true", "a/b", "..", "."]) {
    fails({ ...BASE, ipam: { type } }, ErrorCode.InvalidConfig, /ipam\.type: .*not a plugin name/);
  }
  // Negative control: a plain name is a plugin to delegate to.
  assert.deepEqual(parseConfig(JSON.stringify({ ...BASE, ipam: { type: "host-local" } })).ipam, {
    kind: "delegate",
    type: "host-local",
  });
});

Deno.test("config: ipam without type, or one of the plugin's names, is the daemon's IPAM with Weave Net's keys", () => {
  const weave = {
    subnet: "10.32.0.0/16",
    gateway: "10.32.0.1",
    routes: [{ dst: "10.96.0.0/12" }, { dst: "0.0.0.0/0", gw: "10.32.0.254" }],
  };
  // The plugin's own names too: delegating to them would exec this plugin again, without end.
  const own = ["weave-ipam", "weavets", "weave-net"].map((type) => ({ ...weave, type }));
  for (const ipam of [weave, ...own]) {
    const c = parseConfig(JSON.stringify({ ...BASE, cniVersion: "0.3.0", ipam }));
    assert.deepEqual(c.ipam, { kind: "daemon", ...weave });
  }
  // Weave's own conflist entry.
  const entry = { cniVersion: "0.3.0", name: "weave", type: "weave-net", hairpinMode: true };
  assert.deepEqual(parseConfig(JSON.stringify(entry)).ipam, { kind: "daemon" });
  // A delegate's own keys are its business: not read as Weave's.
  const delegated = { type: "host-local", subnet: "fd00::/64", routes: [{ dst: "::/0" }] };
  assert.deepEqual(parseConfig(JSON.stringify({ ...BASE, ipam: delegated })).ipam, {
    kind: "delegate",
    type: "host-local",
  });
});

Deno.test("config: as another plugin's IPAM only the IPAM keys are read", () => {
  const bridge = {
    cniVersion: "1.0.0",
    name: "br",
    type: "bridge",
    bridge: "cni0-with-a-long-name",
    isGateway: true,
    ipMasq: true,
    mtu: "not ours",
    ipam: { type: "weave-ipam", subnet: "10.33.0.0/16" },
  };
  const c = parseConfig(JSON.stringify(bridge), { ipamOnly: true });
  assert.deepEqual(c.ipam, { kind: "daemon", subnet: "10.33.0.0/16" });
  // Negative control: as the network plugin the same config is refused.
  fails(bridge, ErrorCode.InvalidConfig, /bridge: /);
});
