import assert from "node:assert/strict";
import { closeFd, LinuxError, SOL_SOCKET } from "./mod.ts";
import {
  decodeSockaddrIn,
  getSockOptInt,
  localPort,
  recvFrom,
  sendTo,
  setSockOptInt,
  SOCKADDR_IN_LEN,
  sockaddrIn,
  udpSocket,
} from "./udp.ts";

Deno.test("sockaddr_in: family, big-endian port, address bytes; decodes back", () => {
  const sa = sockaddrIn("10.32.0.5", 6784);
  assert.deepEqual(Array.from(sa.subarray(0, 8)), [2, 0, 0x1a, 0x80, 10, 32, 0, 5]);
  assert.deepEqual(decodeSockaddrIn(sa), { ip: "10.32.0.5", port: 6784 });
  assert.throws(() => sockaddrIn("10.32.0.500", 1), /invalid IPv4 address/);
  assert.throws(() => sockaddrIn("10.32.0.5", 70000), /port must be 0\.\.65535/);
});

Deno.test("UDP over loopback: bind port 0, send, receive with the sender's address", () => {
  const a = udpSocket({ ip: "127.0.0.1" });
  const b = udpSocket({ ip: "127.0.0.1" });
  try {
    const portA = localPort(a);
    const portB = localPort(b);
    assert.ok(portA > 0 && portB > 0 && portA !== portB);
    const msg = new TextEncoder().encode("weave");
    assert.equal(sendTo(a, msg, msg.length, sockaddrIn("127.0.0.1", portB)), 5);
    const buf = new Uint8Array(100);
    const from = new Uint8Array(SOCKADDR_IN_LEN);
    const n = recvFrom(b, buf, from);
    assert.equal(new TextDecoder().decode(buf.subarray(0, n)), "weave");
    assert.deepEqual(decodeSockaddrIn(from), { ip: "127.0.0.1", port: portA });
    const SO_REUSEADDR = 2;
    setSockOptInt(a, SOL_SOCKET, SO_REUSEADDR, 1);
    assert.equal(getSockOptInt(a, SOL_SOCKET, SO_REUSEADDR), 1);
  } finally {
    closeFd(a);
    closeFd(b);
  }
});

Deno.test("a non-blocking receive with nothing queued is EAGAIN; a taken port is EADDRINUSE", () => {
  const s = udpSocket({ ip: "127.0.0.1", nonBlocking: true });
  try {
    assert.throws(() => recvFrom(s, new Uint8Array(10)), (e: unknown) => {
      return e instanceof LinuxError && e.code === "EAGAIN";
    });
    assert.throws(
      () => udpSocket({ ip: "127.0.0.1", port: localPort(s) }),
      (e: unknown) =>
        e instanceof LinuxError && e.code === "EADDRINUSE" &&
        e.message.startsWith(`bind udp socket "127.0.0.1:${localPort(s)}" failed: EADDRINUSE`),
    );
  } finally {
    closeFd(s);
  }
});
