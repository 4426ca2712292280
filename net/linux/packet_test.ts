import assert from "node:assert/strict";
import { gratuitousArpPayload } from "./packet.ts";

Deno.test("gratuitous ARP payload: Ethernet/IPv4 request, sender = target = the IP", () => {
  const p = gratuitousArpPayload(
    new Uint8Array([10, 32, 0, 5]),
    new Uint8Array([2, 0, 0, 0, 0, 9]),
  );
  const hex = Array.from(p, (b) => b.toString(16).padStart(2, "0")).join("");
  assert.equal(
    hex,
    "0001" + "0800" + "06" + "04" + "0001" + "020000000009" + "0a200005" + "000000000000" +
      "0a200005",
  );
});
