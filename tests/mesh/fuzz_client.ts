/**
 * Sends random and mutated messages to a weavets control port (run inside the target's network
 * namespace by mesh_e2e_test.ts). Three kinds, interleaved: raw garbage; a valid hello followed by
 * garbage frames; and, after a real handshake with the password, sealed frames built from valid
 * messages with bytes mutated, truncated or replaced — so they get past the AEAD into the decoders.
 *
 *   fuzz_client.ts HOST PORT PASSWORD COUNT SEED   → prints {"sent":N,"connections":M}
 */
import { encodeMessage, type Message, Tag } from "../../net/mesh/codec.ts";
import { ControlConnection } from "../../net/mesh/connection.ts";
import { derivePsk, generateKeyPair } from "../../net/mesh/crypto.ts";
import { encodeHello, PROTOCOL_MAX, PROTOCOL_MIN } from "../../net/mesh/handshake.ts";
import { SigningKey } from "../../net/mesh/signing.ts";
import { encodeUpdate, signEntry } from "../../net/mesh/topology.ts";

const [host, portText, password, countText, seedText] = Deno.args;
const port = Number(portText), count = Number(countText);
let seed = Number(seedText) | 0;
const rnd = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const int = (n: number) => Math.floor(rnd() * n);
const bytes = (n: number) => Uint8Array.from({ length: n }, () => int(256));
const SELF = "02:00:00:00:00:fe";
const OTHER = "02:00:00:00:00:01";

// One key for the run: the target binds it to SELF at the first handshake, and it signs SELF's
// topology entries.
const key = SigningKey.generate();

function validMessage(): Uint8Array {
  const entry = signEntry(
    {
      name: SELF,
      nickname: "fuzz",
      uid: "00000000000000fe",
      version: 1 + int(5),
      connections: [{ name: OTHER, address: "10.0.0.1:6783", outbound: true, established: true }],
    },
    key.publicKey,
    (d, p) => key.sign(d, p),
  );
  const choices: Message[] = [
    { tag: Tag.heartbeat },
    { tag: Tag.gossip, channel: "topology", data: encodeUpdate([entry]) },
    { tag: Tag.broadcast, channel: "topology", source: SELF, data: encodeUpdate([entry]) },
    {
      tag: Tag.unicast,
      channel: "topology",
      source: SELF,
      dest: OTHER,
      hops: int(40),
      data: bytes(8),
    },
    { tag: Tag.gossip, channel: "no-such-channel", data: bytes(16) },
  ];
  return encodeMessage(choices[int(choices.length)]);
}

function mutate(m: Uint8Array): Uint8Array {
  const out = m.slice();
  switch (int(4)) {
    case 0:
      for (let i = 0, n = 1 + int(4); i < n; i++) out[int(out.length)] = int(256);
      return out;
    case 1:
      return out.subarray(0, int(out.length));
    case 2:
      return bytes(int(64));
    default:
      out[0] = int(256);
      return out;
  }
}

function frame(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + b.length);
  new DataView(out.buffer).setUint32(0, b.length);
  out.set(b, 4);
  return out;
}

async function raw(chunks: Uint8Array[]): Promise<void> {
  const c = await Deno.connect({ hostname: host, port });
  try {
    for (const b of chunks) await c.write(b);
    await Promise.race([c.read(new Uint8Array(512)), new Promise((r) => setTimeout(r, 50))]);
  } catch {
    // the daemon hung up: expected
  } finally {
    try {
      c.close();
    } catch {
      // closed
    }
  }
}

let sent = 0, connections = 0;
while (sent < count) {
  connections++;
  const kind = int(3);
  if (kind === 0) {
    await raw([bytes(int(200))]);
    sent++;
  } else if (kind === 1) {
    const hello = encodeHello({
      minVersion: PROTOCOL_MIN,
      maxVersion: PROTOCOL_MAX,
      authenticated: password !== "",
      publicKey: generateKeyPair().publicKey,
    });
    const n = 1 + int(5);
    const junk = Array.from(
      { length: n },
      () => rnd() < 0.5 ? frame(bytes(int(80))) : bytes(int(80)),
    );
    await raw([hello, ...junk]);
    sent += n;
  } else {
    const tcp = await Deno.connect({ hostname: host, port });
    let c: ControlConnection;
    try {
      c = await ControlConnection.handshake(tcp, true, {
        self: { name: SELF, nickname: "fuzz", uid: "00000000000000fe", port: 1 },
        signingKey: key,
        psk: derivePsk(password),
        authenticated: true,
        timing: {
          heartbeatMs: 1_000,
          deadMs: 5_000,
          helloTimeoutMs: 2_000,
          handshakeTimeoutMs: 5_000,
        },
      });
    } catch {
      continue; // refused (e.g. duplicate resolution): try again
    }
    let closed = false;
    c.start({ onMessage: () => {}, onClose: () => (closed = true), known: () => true });
    for (let i = 0; i < 20 && !closed && sent < count; i++) {
      c.send(rnd() < 0.3 ? validMessage() : mutate(validMessage()));
      sent++;
      await new Promise((r) => setTimeout(r, 0));
    }
    await new Promise((r) => setTimeout(r, 5));
    c.close("fuzz round done");
  }
}
console.log(JSON.stringify({ sent, connections }));
