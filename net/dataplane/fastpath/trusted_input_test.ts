import assert from "node:assert/strict";
import { removeTrustedInputScript, trustedInputScript } from "./trusted_input.ts";

Deno.test("trusted input: golden table — VXLAN only from the trusted peers and loopback", () => {
  assert.equal(
    trustedInputScript(6784, ["10.9.0.3", "10.9.0.2", "10.9.0.3", "::1", "x; flush ruleset"]),
    `add table inet weavets_fastdp
delete table inet weavets_fastdp
table inet weavets_fastdp {
  counter refused_untrusted {}
  set trusted {
    type ipv4_addr
    elements = { 10.9.0.2, 10.9.0.3 }
  }
  chain input {
    type filter hook input priority filter - 1; policy accept;
    iif "lo" accept
    meta nfproto ipv4 udp dport 6784 ip saddr != @trusted counter name refused_untrusted drop
    meta nfproto ipv6 udp dport 6784 counter name refused_untrusted drop
  }
}
`,
  );
  // Nobody trusted: an empty set, so every datagram to the port is refused.
  assert.doesNotMatch(trustedInputScript(6784, []), /elements/);
  assert.equal(
    removeTrustedInputScript(),
    "add table inet weavets_fastdp\ndelete table inet weavets_fastdp\n",
  );
});
