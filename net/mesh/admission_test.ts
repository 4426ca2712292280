import assert from "node:assert/strict";
import fc from "fast-check";
import { admit, admitSocket, type ConnFacts, type Limits, reservedForKnown } from "./admission.ts";

const SELF = { name: "02:00:00:00:00:05", uid: "0000000000000005" };
const LIMITS: Limits = { connLimit: 8, maxHandshakes: 8, maxHandshakesPerSource: 2 };
const peer = (o: Partial<ConnFacts & { known: boolean }> = {}) => ({
  name: "02:00:00:00:00:09",
  uid: "0000000000000009",
  outbound: false,
  known: true,
  ...o,
});
const none = { established: 0, unknownEstablished: 0 };

Deno.test("admitSocket: the connection limit, per-source and total handshake caps, a reserve for known sources", () => {
  const s = (connections: number, handshakes: number, handshakesFromSource: number) => ({
    connections,
    handshakes,
    handshakesFromSource,
  });
  assert.deepEqual(admitSocket(s(0, 0, 0), false, LIMITS), { accept: true });
  assert.equal((admitSocket(s(8, 0, 0), true, LIMITS) as { kind: string }).kind, "conn-limit");
  assert.equal(
    (admitSocket(s(0, 2, 2), true, LIMITS) as { kind: string }).kind,
    "handshakes-per-source",
  );
  // 8 slots, 2 kept for known sources: a stranger is refused at 6, a known source at 8.
  assert.equal((admitSocket(s(0, 6, 0), false, LIMITS) as { kind: string }).kind, "handshakes");
  assert.deepEqual(admitSocket(s(0, 6, 0), true, LIMITS), { accept: true });
  assert.equal((admitSocket(s(0, 8, 0), true, LIMITS) as { kind: string }).kind, "handshakes");
  assert.deepEqual(admitSocket(s(100_000, 0, 0), false, { ...LIMITS, connLimit: 0 }), {
    accept: true,
  }, "conn-limit 0 is unlimited");
});

Deno.test("admit: ourself (this life or another with our name) is refused and not dialled again", () => {
  const d = admit(SELF, peer({ ...SELF }), undefined, none, 8);
  assert.deepEqual(d, {
    accept: false,
    kind: "self",
    reason: "connected to ourself",
    forgetTarget: true,
  });
  const other = admit(SELF, peer({ name: SELF.name, uid: "00000000000000ff" }), undefined, none, 8);
  assert.equal((other as { reason: string }).reason, "the peer uses our name");
});

Deno.test("admit: duplicates keep the connection initiated by the lower name, the same on both ends", () => {
  fc.assert(fc.property(fc.boolean(), (firstOutbound) => {
    const other = { name: "02:00:00:00:00:09", uid: "0000000000000009" };
    // Our end: the existing connection and the new one, opposite directions.
    const here = admit(
      SELF,
      peer({ outbound: !firstOutbound }),
      peer({ outbound: firstOutbound }),
      none,
      8,
    );
    // Their end sees the same two connections with directions swapped.
    const there = admit(
      other,
      { ...SELF, outbound: firstOutbound, known: true },
      { ...SELF, outbound: !firstOutbound },
      none,
      8,
    );
    // Both keep the same physical connection, X (the one we, the lower name, dialled).
    const keptHere = here.accept ? !firstOutbound : firstOutbound;
    const keptThere = there.accept ? !firstOutbound : firstOutbound; // X is inbound there
    assert.equal(keptHere, keptThere);
    assert.equal(keptHere, true, "the lower name's dial is our outbound one");
  }));
  const lost = admit(SELF, peer({ outbound: false }), peer({ outbound: true }), none, 8);
  assert.equal(lost.accept, false);
  assert.equal((lost as { duplicate?: boolean }).duplicate, true);
});

Deno.test("admit: a restarted peer (same name, new uid) replaces its old connection, even when full", () => {
  const d = admit(SELF, peer({ uid: "000000000000000a" }), peer(), {
    established: 8,
    unknownEstablished: 8,
  }, 8);
  assert.deepEqual(d, { accept: true, replace: "peer restarted" });
});

Deno.test("admit: the connection limit, with a quarter kept for known peers; 0 is unlimited", () => {
  assert.equal(reservedForKnown(200), 50);
  assert.equal(reservedForKnown(1), 0);
  assert.equal(
    (admit(SELF, peer(), undefined, { established: 8, unknownEstablished: 0 }, 8) as {
      kind: string;
    }).kind,
    "conn-limit",
  );
  const strangerFull = { established: 6, unknownEstablished: 6 };
  assert.equal(
    (admit(SELF, peer({ known: false }), undefined, strangerFull, 8) as { kind: string }).kind,
    "conn-limit-unknown",
  );
  assert.deepEqual(admit(SELF, peer({ known: true }), undefined, strangerFull, 8), {
    accept: true,
  });
  assert.deepEqual(
    admit(
      SELF,
      peer({ known: false }),
      undefined,
      { established: 1e5, unknownEstablished: 1e5 },
      0,
    ),
    {
      accept: true,
    },
  );
});
