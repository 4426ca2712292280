/** Golden vectors for the CRI client's protobuf encoding (no root needed). */
import assert from "node:assert/strict";
import { Fields, Writer } from "./protobuf.ts";
import { decodeSandboxStatus, encodeSandboxConfig } from "./cri_client.ts";

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");

Deno.test("protobuf: the encoding documentation's examples", () => {
  // "A simple message": field 1 = 150 → 08 96 01; "Length-delimited": field 2 = "testing".
  assert.equal(hex(new Writer().varint(1, 150).finish()), "08 96 01");
  assert.equal(
    hex(new Writer().string(2, "testing").finish()),
    "12 07 74 65 73 74 69 6e 67",
  );
  // Submessage: field 3 holding the first message → 1a 03 08 96 01.
  assert.equal(
    hex(new Writer().message(3, new Writer().varint(1, 150)).finish()),
    "1a 03 08 96 01",
  );
  // A negative int32 is ten bytes (its 64-bit two's complement).
  assert.equal(hex(new Writer().varint(1, -1).finish()), "08 ff ff ff ff ff ff ff ff ff 01");
  // proto3 defaults are not written.
  assert.equal(new Writer().varint(1, 0).string(2, "").varint(3, false).finish().length, 0);
});

Deno.test("protobuf: decoding reads what was written, and refuses truncated input", () => {
  const b = new Writer().varint(1, 300).string(2, "a").string(2, "b").map(3, { k: "v" })
    .varint(4, -2).finish();
  const f = Fields.decode(b);
  assert.equal(f.number(1), 300);
  assert.equal(f.byNumber.get(2)?.length, 2);
  assert.equal(f.string(2), "b", "the last value of a repeated scalar wins");
  assert.deepEqual(f.map(3), { k: "v" });
  assert.equal(f.number(4), -2);
  assert.throws(() => Fields.decode(b.subarray(0, b.length - 1)), /truncated/);
  assert.throws(() => Fields.decode(Uint8Array.of(0x0b)), /wire type 3/);
});

Deno.test("cri: PodSandboxConfig with metadata and a port mapping, byte for byte", () => {
  const b = encodeSandboxConfig({
    name: "p",
    namespace: "ns",
    uid: "u",
    portMappings: [{ containerPort: 80, hostPort: 8080 }],
  }).finish();
  assert.equal(
    hex(b),
    [
      "0a 0a 0a 01 70 12 01 75 1a 02 6e 73", // metadata 1 {name 1 "p", uid 2 "u", namespace 3 "ns"}
      "12 01 70", // hostname 2 "p"
      "2a 05 10 50 18 90 3f", // port_mappings 5 {container_port 2 = 80, host_port 3 = 8080}
      "42 04 12 02 0a 00", // linux 8 {security_context 2 {namespace_options 1 {}}}
    ].join(" "),
  );
});

Deno.test("cri: PodSandboxStatusResponse decodes id, state, IP and verbose info", () => {
  const status = new Writer().string(1, "abc").varint(3, 0)
    .message(5, new Writer().string(1, "10.32.0.5"));
  const r = new Writer().message(1, status).map(2, { info: '{"pid":7}' }).finish();
  assert.deepEqual(decodeSandboxStatus(r), {
    id: "abc",
    ready: true,
    ip: "10.32.0.5",
    info: { info: '{"pid":7}' },
  });
  const notReady = new Writer().message(1, new Writer().string(1, "x").varint(3, 1)).finish();
  assert.equal(decodeSandboxStatus(notReady).ready, false);
});
