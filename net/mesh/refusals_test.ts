import assert from "node:assert/strict";
import { Logger } from "../log.ts";
import { REFUSAL_LOG_INTERVAL_MS, Refusals } from "./refusals.ts";

function refusals() {
  const lines: Array<Record<string, unknown>> = [];
  const log = new Logger({
    json: true,
    level: "debug",
    sink: { write: (l) => lines.push(JSON.parse(l)) },
  });
  return { r: new Refusals(log), lines };
}

Deno.test("refusals: every refusal is counted; one line per source and kind per interval, then the count suppressed", () => {
  const { r, lines } = refusals();
  // Three wrong passwords from one address within the interval (a peer redialling on backoff).
  for (const at of [0, 1_000, 9_999]) {
    r.record("auth-failed", "does not have our password", "10.0.0.2", { from: "10.0.0.2:1" }, at);
  }
  assert.equal(r.counts.get("auth-failed"), 3);
  assert.equal(lines.length, 1, "one line for the three");
  assert.equal(lines[0].kind, "auth-failed");
  assert.equal(lines[0].reason, "does not have our password");
  assert.equal(lines[0].suppressed, undefined, "nothing suppressed before the first line");

  // Another kind or another source is a line of its own.
  r.record("protocol-version", "older weavets", "10.0.0.2", {}, 2_000);
  r.record("auth-failed", "does not have our password", "10.0.0.3", {}, 2_000);
  assert.equal(lines.length, 3);

  // At the end of the interval the next one is logged, with how many were not.
  r.record("auth-failed", "does not have our password", "10.0.0.2", {}, REFUSAL_LOG_INTERVAL_MS);
  assert.equal(lines.length, 4);
  assert.equal(lines[3].suppressed, 2);
  assert.equal(r.counts.get("auth-failed"), 5);
});

Deno.test("refusals: a flood from many sources counts all and logs at most one line per source", () => {
  const { r, lines } = refusals();
  for (let i = 0; i < 10_000; i++) {
    r.record("handshakes", "too many handshakes in progress", `198.18.0.${i % 50}`, {}, i % 100);
  }
  assert.equal(r.counts.get("handshakes"), 10_000);
  assert.equal(lines.length, 50);
});
