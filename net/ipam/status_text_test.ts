import assert from "node:assert/strict";
import { ipamStatusText } from "./status_text.ts";
import type { IpamStatus } from "./types.ts";

const base: IpamStatus = {
  state: "ready",
  range: "10.32.0.0/12",
  self: "aa:00:00:00:00:01",
  allocated: 1,
  peers: [{ name: "aa:00:00:00:00:01", nickname: "n1", owned: 1 << 20, reachable: true }],
  pendingAllocates: 0,
  pendingClaims: 0,
  conflicts: [],
  refusedTokens: {},
};

Deno.test("status ipam: refused ring token states and conflicts are shown, quiet when none", () => {
  assert.doesNotMatch(ipamStatusText(base, 1 << 20), /Refused|Conflicts/);
  const text = ipamStatusText({
    ...base,
    refusedTokens: { "not-owner": 12, "bad-signature": 3, "live-owner": 0 },
    conflicts: [{
      kind: "lost-space",
      subject: "aa:00:00:00:00:02",
      message: "peer aa:00:00:00:00:02 signed a takeover …",
      since: 0,
      count: 2,
    }],
  }, 1 << 20);
  assert.match(text, /Refused ring token states .*: not-owner 12, bad-signature 3\n/);
  assert.doesNotMatch(text, /live-owner/);
  assert.match(text, /Conflicts:\n {2}lost-space: peer .* \(seen 2 times\)/);
});
