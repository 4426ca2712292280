import assert from "node:assert/strict";
import {
  buildProbe,
  fastPathUp,
  parseProbe,
  PROBE_BACK_MS,
  PROBE_REPLY,
  PROBE_REQUEST,
  probeMac,
  shouldProbeBack,
} from "./probe.ts";
import { isGroupDst, parseFrame } from "../sleeve/frame.ts";
import { parseMac } from "../../addr/mod.ts";

Deno.test("probe MACs are stable, distinct per peer, unicast and locally administered", () => {
  const a = probeMac("02:00:00:00:00:01");
  assert.equal(a, probeMac("02:00:00:00:00:01"));
  assert.notEqual(a, probeMac("02:00:00:00:00:02"));
  const b = parseMac(a);
  assert.equal(b[0] & 1, 0);
  assert.equal(b[0] & 2, 2);
});

Deno.test("probe frames round-trip; other frames are not probes", () => {
  const dst = parseMac(probeMac("x")), src = parseMac(probeMac("y"));
  const f = buildProbe(dst, src, PROBE_REQUEST, 0xfffffffe);
  assert.equal(f.length, 60, "minimum Ethernet frame");
  assert.equal(isGroupDst(f), false);
  assert.equal(parseFrame(f).src, probeMac("y"));
  assert.deepEqual(parseProbe(f), { kind: PROBE_REQUEST, seq: 0xfffffffe });
  assert.deepEqual(parseProbe(buildProbe(src, dst, PROBE_REPLY, 7)), { kind: PROBE_REPLY, seq: 7 });
  const other = f.slice();
  other[13] = 0x00;
  assert.equal(parseProbe(other), null);
  const bad = f.slice();
  bad[14] = 0;
  assert.equal(parseProbe(bad), null, "same EtherType but not our magic");
});

Deno.test("the fast path is up while replies are recent", () => {
  assert.equal(fastPathUp(undefined, 1000, 5000), false);
  assert.equal(fastPathUp(1000, 6000, 5000), true);
  assert.equal(fastPathUp(1000, 6001, 5000), false);
});

Deno.test("a probe request is answered with a probe of our own only while the pair is down here, rate-limited", () => {
  // Down (never answered, or answered too long ago): probe back.
  assert.equal(shouldProbeBack(undefined, undefined, 1000, 5000), true);
  assert.equal(shouldProbeBack(1000, undefined, 6001, 5000), true);
  // Up: the scheduled probes suffice.
  assert.equal(shouldProbeBack(1000, undefined, 6000, 5000), false);
  // At most once per PROBE_BACK_MS, however many requests arrive.
  assert.equal(shouldProbeBack(undefined, 1000, 1000 + PROBE_BACK_MS - 1, 5000), false);
  assert.equal(shouldProbeBack(undefined, 1000, 1000 + PROBE_BACK_MS, 5000), true);
});
