import assert from "node:assert/strict";
import { masqueradeScript, splitHorizonScript } from "./netfilter.ts";

Deno.test("masquerade rules: pod range leaving or entering is masqueraded, multicast is not", () => {
  const s = masqueradeScript({ podCidr: "10.32.0.0/12", localRanges: [] });
  assert.match(s, /delete table ip weavets\ntable ip weavets \{/, "replaced atomically");
  assert.match(s, /ip saddr 10\.32\.0\.0\/12 ip daddr 224\.0\.0\.0\/4 return/);
  assert.match(s, /ip saddr 10\.32\.0\.0\/12 ip daddr != 10\.32\.0\.0\/12 masquerade/);
  assert.match(s, /ip daddr 10\.32\.0\.0\/12 ip saddr != 10\.32\.0\.0\/12 masquerade/);
  assert.doesNotMatch(s, /ip daddr \{/);
});

Deno.test("NO_MASQ_LOCAL: traffic to the local ranges returns before any masquerade", () => {
  const s = masqueradeScript({
    podCidr: "10.32.0.0/12",
    localRanges: ["10.32.0.0/14", "10.40.0.0/16"],
  });
  const ret = s.indexOf("ip daddr { 10.32.0.0/14, 10.40.0.0/16 } return");
  assert.ok(ret > 0);
  assert.ok(ret < s.indexOf("masquerade"));
});

Deno.test("split horizon: nothing crosses between the TAP and VXLAN ports but probes", () => {
  const s = splitHorizonScript("vethwe-tap", "vxlan-6784");
  assert.match(s, /delete table bridge weavets\ntable bridge weavets \{/);
  assert.match(s, /iifname "vethwe-tap" oifname "vxlan-6784" ether type != 0x88b5 drop/);
  assert.match(s, /iifname "vxlan-6784" oifname "vethwe-tap" ether type != 0x88b5 drop/);
});
