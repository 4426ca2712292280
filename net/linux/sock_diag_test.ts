import assert from "node:assert/strict";
import { AF_INET, AF_INET6 } from "./libc.ts";
import { decodeMessages } from "./netlink/codec.ts";
import { decodeTcpLookup, encodeTcpLookup, SockDiag } from "./sock_diag.ts";

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

Deno.test("sock_diag: the lookup request, byte for byte (struct inet_diag_req_v2)", () => {
  const local = { ip: "127.0.0.1", port: 0x1234 }, remote = { ip: "127.0.0.2", port: 6784 };
  assert.equal(
    hex(encodeTcpLookup(local, remote, AF_INET, 7)),
    "48000000" + "1400" + "0100" + "07000000" + "00000000" + // nlmsghdr
      "02" + "06" + "00" + "00" + "ffffffff" + // family, TCP, ext, pad, every state
      "1234" + "1a80" + // ports, big-endian
      "7f000001" + "0".repeat(24) + "7f000002" + "0".repeat(24) + // addresses
      "00000000" + "ffffffff" + "ffffffff", // interface, no cookie
  );
  const mapped = hex(encodeTcpLookup(local, remote, AF_INET6, 7));
  assert.equal(mapped.slice(32, 34), "0a");
  assert.equal(mapped.slice(56, 88), "00000000000000000000ffff7f000001", "IPv4-mapped source");
  assert.throws(() => encodeTcpLookup({ ip: "::1", port: 1 }, remote, AF_INET, 1), /not an IPv4/);
});

Deno.test("sock_diag: answers decoded; no such socket is null", () => {
  const answer = new Uint8Array(16 + 72);
  const v = new DataView(answer.buffer);
  v.setUint32(0, answer.length, true);
  v.setUint16(4, 20, true);
  v.setUint32(16 + 64, 65534, true); // idiag_uid
  v.setUint32(16 + 68, 4242, true); // idiag_inode
  assert.deepEqual(decodeTcpLookup(decodeMessages(answer)[0]), { uid: 65534, inode: 4242 });
  const enoent = new Uint8Array(16 + 20);
  const e = new DataView(enoent.buffer);
  e.setUint32(0, enoent.length, true);
  e.setUint16(4, 2, true); // NLMSG_ERROR
  e.setInt32(16, -2, true);
  assert.equal(decodeTcpLookup(decodeMessages(enoent)[0]), null);
});

Deno.test("sock_diag: the kernel names the owner of this process's own socket", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const server = { ip: "127.0.0.1", port: (l.addr as Deno.NetAddr).port };
  const c = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  const accepted = await l.accept();
  const diag = new SockDiag();
  try {
    const client = { ip: "127.0.0.1", port: (c.localAddr as Deno.NetAddr).port };
    const owner = diag.tcpOwner(client, server);
    assert.equal(owner?.uid, Deno.uid());
    assert.ok(owner!.inode > 0);
    assert.equal(diag.tcpOwner({ ...client, port: client.port ^ 1 }, server), null);
  } finally {
    diag.close();
    c.close();
    accepted.close();
    l.close();
  }
});
