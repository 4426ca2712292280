import assert from "node:assert/strict";
import { Logger } from "../../log.ts";
import { Masquerade } from "./masquerade.ts";
import type { MasqueradeRules } from "./netfilter.ts";

const log = new Logger({ json: true, sink: { write: () => {} } });

Deno.test("masquerade: rules are written once per change of the local ranges, again after a failed write", async () => {
  const written: MasqueradeRules[] = [];
  let ranges = ["10.32.0.0-10.32.0.255"];
  let fail = false;
  const m = new Masquerade({
    podCidr: "10.32.0.0/12",
    localRanges: () => ranges,
    log,
    apply: (r) =>
      fail ? Promise.reject(new Error("nft failed")) : (written.push(r), Promise.resolve()),
  });
  await m.refresh();
  await m.refresh(); // unchanged: no second write
  assert.deepEqual(written, [{ podCidr: "10.32.0.0/12", localRanges: ranges }]);
  ranges = ["10.32.0.0-10.32.1.255"];
  fail = true;
  await assert.rejects(() => m.refresh(), /nft failed/);
  fail = false;
  await m.refresh(); // the failed write is retried, not taken as done
  assert.equal(written.length, 2);
  assert.deepEqual(written[1].localRanges, ranges);
});

Deno.test("masquerade: without a pod range nothing is written", async () => {
  let calls = 0;
  const m = new Masquerade({ log, apply: () => (calls++, Promise.resolve()) });
  await m.refresh();
  assert.equal(calls, 0);
});
