import assert from "node:assert/strict";
import { execNameOf } from "./client.ts";
import { isIpamInvocation } from "./invocation.ts";

Deno.test("invocation: the IPAM plugin of another plugin's config, by exec name or by config", () => {
  const bridge = { type: "bridge", ipam: { type: "weave-ipam" } };
  const ours = { type: "weavets", ipam: { type: "weave-ipam" } };
  const weave = { type: "weave-net" };
  const cases: [unknown, string | undefined, boolean][] = [
    // Exec'd by name (a compiled binary): the name decides, as Weave Net's argv[0] did.
    [bridge, "weave-ipam", true],
    [{ type: "macvlan", ipam: { type: "weavets" } }, "weavets", true],
    [ours, "weavets", false], // the network plugin, with the daemon as IPAM in-process
    [weave, "weave-net", false],
    [bridge, "weave-net", false],
    [{ type: "weave-ipam", ipam: { type: "weave-ipam" } }, "weave-ipam", false],
    // A launcher (Deno's own name): the config decides.
    [bridge, undefined, true],
    [ours, undefined, false],
    [{ type: "weave-net", ipam: { type: "weave-ipam" } }, undefined, false],
    [{ type: "bridge", ipam: { type: "host-local" } }, undefined, false],
    // Any of the plugin's names as another plugin's IPAM (with a launcher a "weavets" one ran the
    // network plugin, whose IPAM then exec'd "weavets" again, without end).
    [{ type: "macvlan", ipam: { type: "weavets" } }, undefined, true],
    [{ type: "macvlan", ipam: { type: "weave-net" } }, undefined, true],
    [{ type: "weavets", ipam: { type: "weavets" } }, undefined, false],
    [weave, undefined, false],
    ["not an object", "weave-ipam", false],
  ];
  for (const [conf, name, want] of cases) {
    assert.equal(isIpamInvocation(conf, name), want, `${JSON.stringify(conf)} as ${name}`);
  }
});

Deno.test("invocation: the exec name is the executable's file name, unless it is Deno", () => {
  assert.equal(execNameOf("/opt/cni/bin/weave-ipam"), "weave-ipam");
  assert.equal(execNameOf("/usr/local/lib/weavets/deno"), undefined);
  assert.equal(execNameOf("weavets"), "weavets");
});
