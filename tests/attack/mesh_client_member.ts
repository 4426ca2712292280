/**
 * mesh_client.ts commands that act as a member: `join` (a rogue peer that stays connected and sends
 * what the test crafts) and `topo` (the largest topology gossip the product's limits admit).
 */
import { describeCause } from "../../net/cause.ts";
import { encodeMessage, type Message, Tag } from "../../net/mesh/codec.ts";
import type { ControlConnection } from "../../net/mesh/connection.ts";
import { SigningKey } from "../../net/mesh/signing.ts";
import { encodeUpdate, LIMITS, type PeerEntry, signEntry } from "../../net/mesh/topology.ts";
import { fakeName, fakeUid, keyFor } from "./fake_peer.ts";
import { b64, close, connect, exists, host, port, sleep, spec, unb64 } from "./mesh_client_base.ts";

interface Sent {
  tag: "gossip" | "broadcast" | "unicast";
  channel: string;
  source?: string;
  dest?: string;
  data: string;
}

function toMessage(s: Sent): Message {
  const data = unb64(s.data);
  if (s.tag === "gossip") return { tag: Tag.gossip, channel: s.channel, data };
  if (s.tag === "broadcast") {
    return { tag: Tag.broadcast, channel: s.channel, source: s.source!, data };
  }
  return { tag: Tag.unicast, channel: s.channel, source: s.source!, dest: s.dest!, hops: 0, data };
}

export async function join(): Promise<unknown> {
  let c: ControlConnection;
  try {
    c = await connect(spec.index ?? 1, spec.name);
  } catch (e) {
    return { established: false, error: describeCause(e) };
  }
  const received: Record<string, string[]> = {};
  let closed: string | null = null;
  c.start({
    onMessage(m) {
      if ("channel" in m && "data" in m) (received[m.channel] ??= []).push(b64(m.data));
    },
    onClose: (r) => (closed = r),
    known: () => true,
  });
  await sleep(spec.waitMs ?? 1_500);
  let sent = 0;
  for (const s of (spec.send ?? []) as Sent[]) {
    if (c.send(encodeMessage(toMessage(s)))) sent++;
  }
  const until = Date.now() + (spec.holdMs ?? 1_000);
  while (Date.now() < until && closed === null && !exists(spec.stopFile)) {
    // A long-lived member (`inbox`): the test drops numbered JSON files of more messages to send.
    for (const file of spec.inbox ? inboxFiles(spec.inbox) : []) {
      const batch = JSON.parse(Deno.readTextFileSync(file)) as Sent[];
      Deno.removeSync(file);
      for (const s of batch) if (c.send(encodeMessage(toMessage(s)))) sent++;
    }
    await sleep(100);
  }
  close(c);
  const counts = Object.fromEntries(Object.entries(received).map(([k, v]) => [k, v.length]));
  return { established: true, sent, closed, received: spec.countOnly ? counts : received };
}

/** The inbox's complete files (`*.json`, written under another name and renamed), in order. */
function inboxFiles(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".json")).sort()
    .map((n) => `${dir}/${n}`);
}

/**
 * The worst topology message the product's LIMITS admit: `entriesPerMessage` fake peers (made-up
 * keys, each signing its own entry) with maximal nicknames and as many connections each as the
 * byte cap leaves, joined to one another and to the attacker's own entry (which lists its real
 * connection to the victim), so the victim verifies them all and routes to every one of them.
 */
export async function topo(): Promise<unknown> {
  const self = { name: fakeName(3000), uid: fakeUid(3000) };
  const n = (spec.entries || LIMITS.entriesPerMessage) - 1;
  const nick = "x".repeat(LIMITS.nickname);
  // Dials that discovery may make go to the attacker's own namespace.
  const address = "198.18.0.99:6783";
  const keys = Array.from({ length: n }, () => SigningKey.generate());
  const selfKey = keyFor(self.name);
  const fake = (i: number) => fakeName(10_000 + ((i + n) % n));
  const link = (name: string, outbound: boolean) => ({
    name,
    address,
    outbound,
    established: true,
  });
  // Fake peer i is linked both ways to its `h` neighbours on each side of a ring, so every link
  // counts for routing; the attacker lists its real connection to the victim and as many fake
  // peers as an entry may name.
  const build = (h: number) => {
    const entries: PeerEntry[] = [];
    for (let i = 0; i < n; i++) {
      const conns = [link(self.name, false)];
      for (let j = 1; j <= h; j++) conns.push(link(fake(i + j), true), link(fake(i - j), false));
      entries.push(signEntry(
        {
          name: fake(i),
          nickname: nick,
          uid: fakeUid(10_000 + i),
          version: 1,
          connections: conns,
        },
        keys[i].publicKey,
        (d, p) => keys[i].sign(d, p),
      ));
    }
    const own = [
      { name: spec.victimName, address: `${host}:${port}`, outbound: true, established: true },
      ...Array.from({ length: LIMITS.connectionsPerPeer - 1 }, (_, i) => link(fake(i), true)),
    ];
    entries.push(signEntry(
      { name: self.name, nickname: nick, uid: self.uid, version: 2, connections: own },
      selfKey.publicKey,
      (d, p) => selfKey.sign(d, p),
    ));
    return encodeUpdate(entries);
  };
  // As many links per fake peer as fit the byte cap.
  // The byte cap, or less when the victim takes smaller frames from this sender (`maxFrame`).
  const cap = Math.min(LIMITS.bytesPerMessage, (spec.maxFrame ?? Infinity) - 256);
  const base = build(0).length;
  const perLink = (build(1).length - base) / (2 * n);
  let h = Math.max(0, Math.floor((cap - base) / (2 * n * perLink)));
  let data = build(h);
  while (data.length > cap && h > 0) data = build(--h);
  // Built before connecting: signing takes seconds, in which no heartbeat would go out.
  let c: ControlConnection;
  try {
    c = await connect(3000, self.name, selfKey);
  } catch (e) {
    return { established: false, error: describeCause(e) };
  }
  let closed: string | null = null;
  c.start({ onMessage() {}, onClose: (r) => (closed = r), known: () => true });
  const sent = c.send(encodeMessage({ tag: Tag.gossip, channel: "topology", data }));
  const until = Date.now() + (spec.holdMs ?? 5_000);
  while (Date.now() < until && closed === null) await sleep(100);
  close(c);
  return { established: true, sent, bytes: data.length, entries: n + 1, links: 2 * h + 1, closed };
}
