import assert from "node:assert/strict";
import { parseProcNet, socketsOn, weaveProcesses } from "./observe.ts";

// Golden rows as Linux 6.x prints them: a TCP listener on 0.0.0.0:6783 (0x1A7F), an established
// connection to it, and UDP 6784 held by the kernel (a VXLAN device: inode 0).
const TCP =
  `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:1A7F 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31337 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1A7F 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 31338 1 0000000000000000 20 4 30 10 -1
garbage line
`;
const UDP =
  `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 00000000:1A80 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 0 2 0000000000000000 0
  101: 00000000:1A7F 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4444 2 0000000000000000 0
`;

Deno.test("parseProcNet reads port, state and inode, skipping what does not parse", () => {
  assert.deepStrictEqual(parseProcNet(TCP), [
    { port: 6783, state: 10, inode: 31337 },
    { port: 6783, state: 1, inode: 31338 },
  ]);
  assert.deepStrictEqual(parseProcNet(UDP), [
    { port: 6784, state: 7, inode: 0 },
    { port: 6783, state: 7, inode: 4444 },
  ]);
  assert.deepStrictEqual(parseProcNet(""), []);
});

Deno.test("socketsOn finds listeners and their owners in a /proc tree", () => {
  const proc = Deno.makeTempDirSync({ prefix: "wt-proc-" });
  try {
    Deno.mkdirSync(`${proc}/net`);
    Deno.writeTextFileSync(`${proc}/net/tcp`, TCP);
    Deno.writeTextFileSync(`${proc}/net/udp`, UDP);
    // tcp6/udp6 missing: a kernel without IPv6 is fine.
    for (const [pid, comm, inode] of [[4242, "weaver", 31337], [99, "sshd", 1]] as const) {
      Deno.mkdirSync(`${proc}/${pid}/fd`, { recursive: true });
      Deno.writeTextFileSync(`${proc}/${pid}/comm`, comm + "\n");
      Deno.symlinkSync(`socket:[${inode}]`, `${proc}/${pid}/fd/3`);
      Deno.symlinkSync("/dev/null", `${proc}/${pid}/fd/0`);
    }
    const seen = socketsOn([
      { proto: "tcp", port: 6783, use: "control plane" },
      { proto: "udp", port: 6783, use: "sleeve" },
      { proto: "udp", port: 6784, use: "vxlan" },
    ], proc);
    assert.deepStrictEqual(seen, [
      // The established connection is not a listener: left out.
      { proto: "tcp", port: 6783, inode: 31337, owners: [{ pid: 4242, comm: "weaver" }] },
      { proto: "udp", port: 6784, inode: 0, owners: [] },
      { proto: "udp", port: 6783, inode: 4444, owners: [] },
    ]);
    assert.deepStrictEqual(weaveProcesses(proc), [{ pid: 4242, comm: "weaver" }]);
  } finally {
    Deno.removeSync(proc, { recursive: true });
  }
});

Deno.test("no /proc at all: nothing seen, no crash", () => {
  assert.deepStrictEqual(
    socketsOn([{ proto: "tcp", port: 6783, use: "x" }], "/nonexistent-proc"),
    [],
  );
  assert.deepStrictEqual(weaveProcesses("/nonexistent-proc"), []);
});

Deno.test("a weaver in another network namespace owns nothing here", () => {
  const proc = Deno.makeTempDirSync({ prefix: "wt-proc-" });
  try {
    Deno.mkdirSync(`${proc}/self/ns`, { recursive: true });
    Deno.symlinkSync("net:[4026531840]", `${proc}/self/ns/net`);
    for (const [pid, ns] of [[10, "net:[4026531840]"], [11, "net:[4026532999]"]] as const) {
      Deno.mkdirSync(`${proc}/${pid}/ns`, { recursive: true });
      Deno.writeTextFileSync(`${proc}/${pid}/comm`, "weaver\n");
      Deno.symlinkSync(ns, `${proc}/${pid}/ns/net`);
    }
    assert.deepStrictEqual(weaveProcesses(proc), [{ pid: 10, comm: "weaver" }]);
  } finally {
    Deno.removeSync(proc, { recursive: true });
  }
});
