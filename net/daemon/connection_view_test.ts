import assert from "node:assert/strict";
import { formatConnections } from "../mesh/status_text.ts";
import type { ConnectionStatus } from "../mesh/status.ts";
import { withDataPath } from "./connection_view.ts";

const conn: ConnectionStatus = {
  direction: "outbound",
  address: "10.9.0.2:6783",
  state: "established",
  encrypted: true,
  name: "02:00:00:00:00:02",
  nickname: "b",
};

Deno.test("connections view: a trusted peer on the fast path is never shown encrypted", () => {
  const fast = withDataPath(conn, "fastdp", "NOT encrypted: trusted subnet on both ends");
  assert.equal(fast.encrypted, false);
  assert.match(formatConnections([fast]), / unencrypted fastdp /);
  // Control: the same connection on the userspace path is encrypted.
  const sleeve = withDataPath(conn, "sleeve", "encrypted");
  assert.equal(sleeve.encrypted, true);
  assert.match(formatConnections([sleeve]), / encrypted +sleeve /);
  // No password: unencrypted whatever the path.
  assert.equal(withDataPath({ ...conn, encrypted: false }, "sleeve", undefined).encrypted, false);
});
