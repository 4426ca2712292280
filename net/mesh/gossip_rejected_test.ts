/**
 * Gossip a channel cannot take (a peer's malformed or conflicting data) costs a counter and a
 * rate-limited log line, never a line per message; a message for a channel not registered here
 * is counted. On a fake clock, without sockets.
 */
import assert from "node:assert/strict";
import { Registry } from "../api/metrics.ts";
import { Logger } from "../log.ts";
import { Tag } from "./codec.ts";
import { Gossip } from "./gossip.ts";
import { PeerKeys } from "./keys.ts";
import { gossipEvents, LocalTopology } from "./local_topology.ts";
import { registerMeshMetrics } from "./metrics.ts";
import { Mesh } from "./router.ts";
import { SigningKey } from "./signing.ts";

const SELF = "02:00:00:00:00:01", PEER = "02:00:00:00:00:02";
const enc = new TextEncoder();

/** A gossip layer with one channel that throws on "bad", wired as the Mesh wires it. */
function setup() {
  const lines: Array<Record<string, unknown>> = [];
  const log = new Logger({
    json: true,
    level: "debug",
    sink: { write: (l) => lines.push(JSON.parse(l)) },
  });
  let now = 0;
  const key = SigningKey.generate();
  const keys = new PeerKeys({ self: SELF, selfKey: key.publicKey, inUse: () => false });
  // The topology is made with the gossip layer, whose events use its rate limit (as router.ts).
  const made: { topology?: LocalTopology } = {};
  const gossip = new Gossip(
    SELF,
    { neighbours: () => [PEER], send: () => true },
    { unicastNextHop: () => PEER, broadcastNextHops: () => [] },
    { sign: (d, p) => key.sign(d, p), verify: () => "valid" },
    gossipEvents(log, (kind, message, fields) => made.topology!.limited(kind, message, fields)),
  );
  made.topology = new LocalTopology({
    id: { name: SELF, nickname: "a", uid: "0000000000000001" },
    signer: key,
    keys,
    gossip,
    log,
    now: () => now,
    defer: () => {},
  });
  let taken = 0;
  for (const channel of ["ipam", "macs"]) {
    gossip.channel(channel, {
      fullState: () => new Uint8Array(),
      onGossip: (_from, d) => {
        if (new TextDecoder().decode(d) === "bad") throw new Error(`cannot decode ${channel}`);
        taken++;
        return null;
      },
      onUnicast: () => {},
    });
  }
  const send = (channel: string, text: string) =>
    gossip.receive(PEER, { tag: Tag.gossip, channel, data: enc.encode(text) }, 10);
  return {
    gossip,
    send,
    lines: () => lines.filter((l) => l.msg === "gossip rejected"),
    taken: () => taken,
    advance: (ms: number) => (now += ms),
  };
}

Deno.test("gossip rejected: every message counted per channel, one log line per channel and 10 s", () => {
  const s = setup();
  for (let i = 0; i < 1_000; i++) s.send("ipam", "bad");
  s.send("ipam", "good");
  assert.equal(s.gossip.stats.get("ipam")!.rejected, 1_000);
  assert.equal(s.taken(), 1, "the channel still takes good data");
  assert.equal(s.lines().length, 1, "one line for a thousand");
  assert.equal(s.lines()[0].channel, "ipam");
  assert.equal(s.lines()[0].from, PEER);
  assert.equal(s.lines()[0].error, "cannot decode ipam");
  s.send("macs", "bad");
  assert.equal(s.lines().length, 2, "another channel: a line of its own");
  s.advance(10_000);
  s.send("ipam", "bad");
  assert.equal(s.lines().length, 3);
  assert.equal(s.lines()[2].suppressedSinceLast, 999);
  assert.equal(s.gossip.stats.get("macs")!.rejected, 1);
});

Deno.test("gossip rejected: a channel not registered here is counted, never kept by name", () => {
  const s = setup();
  for (let i = 0; i < 100; i++) s.send(`made-up-${i}`, "x");
  assert.equal(s.gossip.unknownChannel, 100);
  assert.deepEqual([...s.gossip.stats.keys()].sort(), ["ipam", "macs", "topology"]);
});

Deno.test("gossip rejected: /metrics shows both counters", () => {
  const mesh = new Mesh({
    name: SELF,
    nickname: "m",
    host: "127.0.0.1",
    port: 0,
    password: null,
    connLimit: 10,
    peers: [],
    log: new Logger({ sink: { write() {} } }),
  });
  mesh.gossip.channel("ipam", {
    fullState: () => new Uint8Array(),
    onGossip: () => {
      throw new Error("malformed");
    },
    onUnicast: () => {},
  });
  const registry = new Registry();
  const refresh = registerMeshMetrics(registry, mesh);
  for (let i = 0; i < 3; i++) {
    mesh.gossip.receive(PEER, { tag: Tag.gossip, channel: "ipam", data: enc.encode("x") }, 1);
  }
  mesh.gossip.receive(PEER, { tag: Tag.gossip, channel: "nope", data: enc.encode("x") }, 1);
  refresh();
  const text = registry.render();
  assert.match(text, /^weavets_gossip_rejected_total\{channel="ipam"\} 3$/m);
  assert.match(text, /^weavets_gossip_unknown_channel_total 1$/m);
});
