import assert from "node:assert/strict";
import { type Caller, isLoopback, refuse } from "./access.ts";

const req = (method: string, headers: Record<string, string> = {}) => ({
  method,
  path: "/ip/c1",
  headers: new Headers(headers),
});
const tcp = (uid: number | null, loopback = true) => (): Caller => ({
  transport: "tcp",
  loopback,
  uid,
});
const DAEMON_UID = 0;

Deno.test("access: public routes answer anyone; root routes only root on this node", () => {
  let asked = 0;
  const counting = (): Caller => (asked++, { transport: "tcp", loopback: true, uid: 1000 });
  assert.equal(refuse("public", req("GET"), counting, DAEMON_UID), null);
  assert.equal(asked, 0, "the kernel is not asked for a public route");

  assert.equal(refuse("root", req("POST"), tcp(0), DAEMON_UID), null);
  assert.equal(refuse("root", req("POST"), () => ({ transport: "unix" }), DAEMON_UID), null);
  for (
    const [caller, why] of [
      [
        tcp(65534),
        /only for root on this node \(the caller is uid 65534\): run the command as root/,
      ],
      [tcp(null), /the caller's user could not be determined; call it as root/],
      [tcp(0, false), /refused from another host/],
    ] as const
  ) {
    const r = refuse("root", req("DELETE"), caller, DAEMON_UID);
    assert.equal(r?.status, 403);
    assert.match(r!.reason, why);
  }
  // The daemon's own user may call it (a daemon run as non-root in a test).
  assert.equal(refuse("root", req("POST"), tcp(1000), 1000), null);
});

Deno.test("access: bodies must be JSON; a web page (Origin) cannot drive root routes", () => {
  const textBody = req("POST", { "content-length": "11", "content-type": "text/plain" });
  assert.equal(refuse("root", textBody, tcp(0), DAEMON_UID)?.status, 415);
  const chunked = req("POST", { "transfer-encoding": "chunked" });
  assert.equal(refuse("root", chunked, tcp(0), DAEMON_UID)?.status, 415, "no type at all");
  const json = req("POST", { "content-length": "2", "content-type": "application/json; x=1" });
  assert.equal(refuse("root", json, tcp(0), DAEMON_UID), null);
  const page = req("POST", { origin: "http://example.test" });
  const r = refuse("root", page, tcp(0), DAEMON_UID);
  assert.equal(r?.status, 403);
  assert.match(r!.reason, /Origin header/);
  assert.equal(refuse("public", req("GET", { origin: "x" }), tcp(1), DAEMON_UID), null);
});

Deno.test("access: loopback is 127.0.0.0/8", () => {
  assert.ok(isLoopback("127.0.0.1") && isLoopback("127.9.8.7"));
  assert.ok(!isLoopback("10.0.0.1") && !isLoopback("128.0.0.1") && !isLoopback("::1"));
});
