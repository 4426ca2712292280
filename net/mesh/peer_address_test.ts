import assert from "node:assert/strict";
import { hostOf, normalisePeerAddress, parsePeerAddress } from "./peer_address.ts";

Deno.test("peer address: a default port, bad ones named, one normal spelling", () => {
  assert.deepEqual(parsePeerAddress("10.0.0.1", 6783), { host: "10.0.0.1", port: 6783 });
  assert.deepEqual(parsePeerAddress("node-2:7000", 6783), { host: "node-2", port: 7000 });
  assert.deepEqual(parsePeerAddress("[fd00::1]:7000"), { host: "fd00::1", port: 7000 });
  assert.throws(
    () => parsePeerAddress("10.0.0.1:99999", 6783),
    /invalid peer address "10.0.0.1:99999"/,
  );
  assert.throws(() => parsePeerAddress("a b", 6783), /invalid peer address/);
  assert.throws(() => parsePeerAddress("10.0.0.1:0"), /invalid peer address/);
  assert.equal(normalisePeerAddress(" 10.0.0.1 "), "10.0.0.1:6783");
  assert.equal(hostOf("10.0.0.1:7000"), "10.0.0.1");
});
