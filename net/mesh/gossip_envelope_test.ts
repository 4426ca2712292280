/** Gossip envelopes: the real source of a unicast, forged and strangers' broadcasts, golden vectors. */
import assert from "node:assert/strict";
import { decodeMessage, encodeMessage, type Message, Tag } from "./codec.ts";
import { Buffer } from "node:buffer";
import { BROADCAST_DOMAIN, envelopeBytes, Gossip, UNICAST_DOMAIN } from "./gossip.ts";
import { SIGNATURE_BYTES, SigningKey } from "./signing.ts";
import { deliverVia, line, name, ring } from "./testing/gossip_net.ts";

Deno.test("gossip: envelopes: a unicast arrives with its real source; a relay cannot rewrite it", () => {
  const { net, got, c } = line();
  assert.equal(c[0].unicast(name(2), Uint8Array.of(7)), true);
  deliverVia(net, (m) => m);
  assert.deepEqual(got[2], [["unicast", name(0), [7]]]);
  got[2].length = 0;
  // The relay (1) claims the message came from itself, changes the payload, or the destination.
  const tampers: Array<(m: Message & { tag: 4 }) => Message> = [
    (m) => ({ ...m, source: name(1) }),
    (m) => ({ ...m, data: Uint8Array.of(...m.data.subarray(0, SIGNATURE_BYTES), 8) }),
    (m) => ({ ...m, data: m.data.subarray(SIGNATURE_BYTES) }),
  ];
  for (const t of tampers) {
    c[0].unicast(name(2), Uint8Array.of(7));
    deliverVia(net, (m, from) => (from === 1 && m.tag === Tag.unicast ? t(m) : m));
  }
  assert.deepEqual(got[2], []);
  assert.equal(net.peers[2].gossip.stats.get("c")!.forged, 3);
  // Redirected to another destination: not for that one either.
  c[0].unicast(name(2), Uint8Array.of(7));
  deliverVia(net, (m) => (m.tag === Tag.unicast ? { ...m, dest: name(1) } : m));
  assert.deepEqual(got[1], []);
  assert.equal(net.peers[1].gossip.stats.get("c")!.forged, 1);
});

Deno.test("gossip: envelopes: a stranger's or a forged broadcast is dropped, counted, not relayed", () => {
  const { net, got } = line();
  const stranger = "02:00:00:00:09:99";
  const seal = (signer: string, source: string, payload: Uint8Array, domain = BROADCAST_DOMAIN) =>
    Uint8Array.of(
      ...ring.key(signer).sign(domain, envelopeBytes("c", source, null, payload)),
      ...payload,
    );
  const inject = (to: number, m: Message) => {
    const b = encodeMessage(m);
    net.peers[to].gossip.receive(name(9), decodeMessage(b), b.length);
  };
  const pay = Uint8Array.of(1, 2, 3);
  // Signed by a stranger in peer 2's name; by peer 2 but for unicast; by nobody bound.
  inject(0, {
    tag: Tag.broadcast,
    channel: "c",
    source: name(2),
    data: seal(stranger, name(2), pay),
  });
  inject(0, {
    tag: Tag.broadcast,
    channel: "c",
    source: name(2),
    data: seal(name(2), name(2), pay, UNICAST_DOMAIN),
  });
  inject(0, {
    tag: Tag.broadcast,
    channel: "c",
    source: stranger,
    data: seal(stranger, stranger, pay),
  });
  const uni = envelopeBytes("c", stranger, name(0), pay);
  inject(0, {
    tag: Tag.unicast,
    channel: "c",
    source: stranger,
    dest: name(0),
    hops: 0,
    data: Uint8Array.of(...ring.key(stranger).sign(UNICAST_DOMAIN, uni), ...pay),
  });
  // Too short to hold a signature at all.
  inject(0, { tag: Tag.unicast, channel: "c", source: name(2), dest: name(0), hops: 0, data: pay });
  assert.deepEqual(got[0], []);
  assert.equal(net.queue.length, 0, "nothing relayed");
  const st = net.peers[0].gossip.stats.get("c")!;
  assert.equal(st.forged, 3);
  assert.equal(st.unknownSource, 2);
  // The real thing is delivered, and relayed exactly as sealed.
  inject(1, {
    tag: Tag.broadcast,
    channel: "c",
    source: name(2),
    data: seal(name(2), name(2), pay),
  });
  assert.deepEqual(got[1], [["gossip", name(2), [1, 2, 3]]]);
  assert.equal(net.queue.length, 1);
  const relayed = decodeMessage(net.queue[0].msg);
  assert.deepEqual(relayed.tag === Tag.broadcast && [...relayed.data], [
    ...seal(name(2), name(2), pay),
  ]);
  deliverVia(net, (m) => m);
  assert.deepEqual(got[0], [["gossip", name(2), [1, 2, 3]]]);
});

// Golden vectors: envelopes as sent, for RFC 8032 test 1's key. The signatures were computed
// independently with python3's `cryptography`:
//   k.sign(b"weavets-sig\0gossip/broadcast\0" + bytes([4]) + b"ipam" + src + bytes([1, 2, 3]))
//   k.sign(b"weavets-sig\0gossip/unicast\0" + bytes([4]) + b"ipam" + src + dst + bytes([1, 2, 3]))
Deno.test("gossip: golden vectors for a signed broadcast and unicast envelope", () => {
  const seed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
  const key = SigningKey.fromSeed(Uint8Array.from(Buffer.from(seed, "hex")));
  const sent: string[] = [];
  const src = "02:00:00:00:00:01", dst = "02:00:00:00:00:02";
  const g = new Gossip(
    src,
    {
      neighbours: () => [dst],
      send: (_to, m) => (sent.push(Buffer.from(m).toString("hex")), true),
    },
    { unicastNextHop: (d) => d, broadcastNextHops: () => [dst] },
    {
      sign: (d, p) => key.sign(d, p),
      verify: () => "valid",
    },
  );
  const c = g.channel("ipam", {
    fullState: () => new Uint8Array(),
    onGossip: () => null,
    onUnicast() {},
  });
  sent.length = 0;
  c.broadcast(Uint8Array.of(1, 2, 3));
  c.unicast(dst, Uint8Array.of(1, 2, 3));
  assert.deepEqual(sent, [
    "03" + "04" + "6970616d" + "020000000001" +
    "0b5874d877078b0f2c6050da1920bdea1440585a5756e15d186848306c09e601" +
    "d7dfcebd5c3dba984a9bbcd85ae997d771d2e5e6bd120674b0852d73943f6200" + "010203",
    "04" + "04" + "6970616d" + "020000000001" + "020000000002" + "00" +
    "f1c8d8e8cc38f13025163a32a44af101e60e67ef138347af9ae477e12cb3c109" +
    "8360e13b7e2fd658d96383feb1ad70dd286c9dada57e93a932af9620b3ab0b08" + "010203",
  ]);
});
