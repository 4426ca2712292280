import assert from "node:assert/strict";
import { TestKeyring } from "../../mesh/testing/keyring.ts";
import { MacChannel, type OwnFields, type Refusal } from "./mac_channel.ts";
import { decodeRecords, encodeRecords, signRecord } from "./mac_gossip.ts";

const A = "02:00:00:00:00:0a", B = "02:00:00:00:00:0b";
const fields = (macs: string[] = []): OwnFields => ({
  addr: "192.168.0.10",
  sleevePort: 6783,
  fastdpPort: 6784,
  fastdp: true,
  macs,
});
const T = 1_700_000_000_000;

function pair() {
  const keys = new TestKeyring();
  const logged: Array<[Refusal, string]> = [];
  const mk = (self: string) =>
    new MacChannel({
      self,
      ...keys.view(self),
      onRefusal: (reason, d) => logged.push([reason, d.peer]),
    });
  return { keys, logged, a: mk(A), b: mk(B) };
}

Deno.test("MacChannel: a published record reaches the other peer, once", () => {
  const { a, b } = pair();
  const msg = a.publish(fields(["0a:00:00:00:00:01"]), T);
  const r = b.receive(A, msg, T);
  assert.deepEqual(r.fresh.map((x) => x.peer), [A]);
  assert.ok(r.forward, "news is passed on");
  assert.equal(r.reassert, null);
  assert.equal(b.receive(A, msg, T).forward, null, "a repeat is not news");
  assert.deepEqual(b.state.get(A)?.macs, ["0a:00:00:00:00:01"]);
  assert.deepEqual(decodeRecords(b.fullState()).map((x) => x.record.peer), [A]);
});

Deno.test("MacChannel: a record of its own from an earlier life is answered from above", () => {
  const { keys, a, b } = pair();
  // A's earlier life (same key, restarted) said something else at a higher version.
  const old = signRecord(
    { peer: A, version: T / 1000 + 500, ...fields(["0a:00:00:00:00:99"]) },
    (d, p) => keys.key(A).sign(d, p),
  );
  b.receive(A, encodeRecords([old]), T);
  a.publish(fields(["0a:00:00:00:00:01"]), T);
  const r = a.receive(B, b.fullState(), T);
  assert.ok(r.reassert, "A re-asserts");
  assert.equal(a.mine!.version, T / 1000 + 501);
  b.receive(A, r.reassert!, T);
  assert.deepEqual(b.state.get(A)?.macs, ["0a:00:00:00:00:01"], "A's word wins everywhere");
  assert.equal(a.receive(B, b.fullState(), T).reassert, null, "its own echo: nothing to do");
});

Deno.test("MacChannel: forgeries and jumps are counted and logged at most every 10 s", () => {
  const { keys, logged, a, b } = pair();
  b.receive(A, a.publish(fields(), T), T);
  const forged = (v: number) =>
    encodeRecords([
      signRecord({ peer: A, version: v, ...fields(["0a:00:00:00:00:66"]) }, (d, p) =>
        keys.key("02:00:00:00:00:66").sign(d, p)),
    ]);
  for (let i = 0; i < 5; i++) b.receive("02:00:00:00:00:66", forged(T / 1000 + 10 + i), T + i);
  assert.equal(b.refused.invalid, 5);
  assert.deepEqual(logged, [["invalid", A]], "one line for five");
  b.receive("02:00:00:00:00:66", forged(T / 1000 + 20), T + 10_001);
  assert.equal(logged.length, 2, "the next line after 10 s");
  assert.deepEqual(b.state.get(A)?.macs, [], "no forged MAC was merged");
  // A jump: signed by A itself, but far beyond the version held.
  const far = signRecord(
    { peer: A, version: T / 1000 + 2 ** 25, ...fields() },
    (d, p) => keys.key(A).sign(d, p),
  );
  b.receive(A, encodeRecords([far]), T);
  assert.equal(b.refused.jump, 1);
  // Unknown author: counted, never logged (no blame).
  keys.forget(A);
  b.receive(A, a.publish(fields(), T + 1000), T);
  assert.equal(b.refused["unknown-author"], 1);
  assert.ok(!logged.some(([r]) => r === "unknown-author"));
  assert.throws(() => b.receive(A, new TextEncoder().encode("[{]"), T), "malformed throws");
});
