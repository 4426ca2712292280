/**
 * Forged ring states against the IPAM service in process (the FakeNetwork mesh, real Ed25519):
 * a made-up peer with a valid key for its own name broadcasts states taking every token. Nothing
 * changes; the refusals show in the status view, the metric and one rate-limited log line.
 * Negative control: the same peer's forgery would win a plain join (a higher version per token).
 */
import assert from "node:assert/strict";
import { Registry } from "../../net/api/metrics.ts";
import { Logger } from "../../net/log.ts";
import { createIpam } from "../../net/ipam/component.ts";
import { FakeNetwork } from "../../net/ipam/testing/fake_mesh.ts";
import {
  type Entry,
  entryOrder,
  ringScope,
  sigToText,
  TOKEN_DOMAIN,
  tokenBytes,
} from "../../net/ipam/token.ts";
import { encodeGossip, IPAM_WIRE_VERSION } from "../../net/ipam/wire.ts";

const A = "0a:00:00:00:00:01", F = "02:00:00:00:00:99";

Deno.test("forged ring states change nothing and cost a counter and one log line", async () => {
  const lines: string[] = [];
  const log = new Logger({ sink: { write: (l) => lines.push(l) }, json: true });
  const net = new FakeNetwork();
  const registry = new Registry();
  const svc = createIpam({
    range: "10.60.0.0/24",
    init: `seed=${A}`,
    datadir: null,
    mesh: net.join(A, "a"),
    registry,
    log,
    tickMs: 50,
  });
  const forger = net.join(F, "forger");
  const channel = forger.channel("ipam", {
    fullState: () => new Uint8Array(),
    onGossip: () => null,
    onUnicast: () => {},
  });
  try {
    const r = await svc.allocate({ id: "c1", ifname: "eth0" });
    assert.ok(r.ok);
    const before = JSON.stringify(svc.allocations());
    const ringBefore = JSON.stringify(svc.ringEntries());
    const ring = (svc.ringEntries() as Entry[]).map((e) => ({ ...e }));
    const scope = ringScope(0x0a3c0000, 0x0a3c0100, A); // 10.60.0.0/24, seeded by A alone
    const forged = ring.flatMap((e) =>
      [false, true].map((takeover) => {
        const body = { start: e.start, owner: F, version: e.version + 1, takeover, author: F };
        const sig = net.keyring.key(F).sign(TOKEN_DOMAIN, tokenBytes(scope, body));
        return { ...body, sig: sigToText(sig) };
      })
    );
    // The control: each forged state is newer than what A holds (a plain join would take it).
    for (const f of forged) {
      assert.ok(entryOrder(f, ring.find((e) => e.start === f.start)!) > 0);
    }
    const msg = encodeGossip({
      v: IPAM_WIRE_VERSION,
      range: "10.60.0.0/24",
      ring: { seed: A, entries: forged },
      free: {},
    });
    channel.broadcast(msg);
    await net.settle();
    channel.broadcast(msg);
    await net.settle();
    assert.equal(JSON.stringify(svc.allocations()), before);
    assert.equal(JSON.stringify(svc.ringEntries()), ringBefore);
    assert.equal(svc.view()!.refusedTokens["not-owner"], 2 * forged.length);
    assert.match(
      registry.render(),
      new RegExp(`weavets_ipam_refused_tokens_total\\{reason="not-owner"\\} ${2 * forged.length}`),
    );
    const warned = lines.filter((l) => l.includes("refused IP ring tokens"));
    assert.equal(warned.length, 1, "one log line for both messages (at most one a minute)");
    assert.deepEqual(svc.view()!.conflicts, []);
    // ADD still works.
    assert.ok((await svc.allocate({ id: "c2", ifname: "eth0" })).ok);
  } finally {
    svc.stop();
  }
});
