import assert from "node:assert/strict";
import { Logger } from "../../net/log.ts";
import { startApiServer } from "../../net/api/server.ts";
import { CniError, ErrorCode } from "../errors.ts";
import { addressesOf, answerInProcess, daemonCall } from "./daemon_api.ts";

const quiet = new Logger({ sink: { write() {} } });

Deno.test("daemon API in-process: the daemon's own routes answer without a connection, as root", async () => {
  let owners = 0;
  const seen: string[] = [];
  const server = startApiServer({
    addr: "127.0.0.1:0",
    log: quiet,
    // Over TCP this caller is not root: the route refuses it (the control below).
    socketOwner: () => (owners++, 65534),
    routes: [{
      method: "POST",
      path: "/ip/:id",
      handle: async (req, p) => {
        seen.push(`${p.id} ${new URL(req.url).search} ${await req.text()}`);
        return new Response("10.32.0.5/12");
      },
    }],
  });
  const addr = server.addr as Deno.NetAddr;
  const address = `127.0.0.1:${addr.port}`;
  const call = () =>
    daemonCall(address, {
      method: "POST",
      path: "/ip/c1?ifname=eth0",
      what: "allocate an address",
      body: "{}",
    }, 5000);
  try {
    // Control: over loopback TCP, a non-root socket owner is refused.
    await assert.rejects(call, (e) => e instanceof CniError && /403/.test(e.message));
    assert.equal(owners, 1);
    const undo = answerInProcess(addressesOf(server.addr), server.dispatch);
    assert.equal(await call(), "10.32.0.5/12");
    assert.equal(owners, 1, "no socket-owner lookup: no connection was made");
    assert.deepEqual(seen, ["c1 ?ifname=eth0 {}"]);
    undo();
    await assert.rejects(call, (e) => e instanceof CniError && /403/.test(e.message));
  } finally {
    await server.shutdown();
  }
  // Nothing listens there any more, and nothing answers in-process: "try again later".
  await assert.rejects(call, (e) => e instanceof CniError && e.code === ErrorCode.TryAgainLater);
});

Deno.test("addressesOf: what a plugin may name for the API's listen address", () => {
  assert.deepEqual(addressesOf({ transport: "tcp", hostname: "127.0.0.1", port: 6784 }), [
    "127.0.0.1:6784",
  ]);
  assert.deepEqual(addressesOf({ transport: "tcp", hostname: "0.0.0.0", port: 6784 }), [
    "0.0.0.0:6784",
    "127.0.0.1:6784",
  ]);
  assert.deepEqual(addressesOf({ transport: "unix", path: "/run/weave/weave.sock" }), [
    "/run/weave/weave.sock",
  ]);
});
