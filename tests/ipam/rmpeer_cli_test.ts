import assert from "node:assert/strict";
import { run } from "../../cli/rmpeer.ts";
import { UsageError } from "../../cli/command.ts";
import { main } from "../../cli/main.ts";
import { Registry } from "../../net/api/metrics.ts";
import { startApiServer } from "../../net/api/server.ts";
import { Logger } from "../../net/log.ts";
import { createIpam } from "../../net/ipam/component.ts";
import { ipamRoutes } from "../../net/ipam/http.ts";
import { FakeNetwork } from "../../net/ipam/testing/fake_mesh.ts";

const quiet = new Logger({ sink: { write() {} }, json: true });
const A = "0b:00:00:00:00:01", B = "0b:00:00:00:00:02", C = "0b:00:00:00:00:03";

async function capture(fn: () => Promise<number>) {
  const out: string[] = [], err: string[] = [];
  const [log, error] = [console.log, console.error];
  console.log = (s: string) => out.push(s);
  console.error = (s: string) => err.push(s);
  try {
    return { code: await fn(), out: out.join("\n"), err: err.join("\n") };
  } finally {
    [console.log, console.error] = [log, error];
  }
}

Deno.test("weavets rmpeer: takes over a dead peer's space, refuses a live one", async () => {
  const net = new FakeNetwork();
  const mk = (name: string, nick: string) =>
    createIpam({
      range: "10.48.0.0/24",
      init: `seed=${A},${B},${C}`,
      datadir: null,
      mesh: net.join(name, nick),
      registry: new Registry(),
      log: quiet,
    });
  const [a, b, c] = [mk(A, "alpha"), mk(B, "beta"), mk(C, "gamma")];
  b.stop();
  net.down(B);
  const server = startApiServer({ addr: "127.0.0.1:0", routes: ipamRoutes(a), log: quiet });
  const addr = `127.0.0.1:${(server.addr as Deno.NetAddr).port}`;
  try {
    const ok = await capture(() => run(["--http-addr", addr, B]));
    assert.equal(ok.code, 0, ok.err);
    assert.equal(ok.out, `85 IPs taken over from ${B}`);
    const live = await capture(() => run(["--http-addr", addr, "gamma"]));
    assert.equal(live.code, 1);
    assert.match(live.err, /^weavets rmpeer: gamma: peer 0b:00:00:00:00:03\(gamma\) is reachable/);
    await assert.rejects(() => run(["--http-addr", addr]), UsageError);
  } finally {
    await server.shutdown();
    a.stop();
    c.stop();
  }
});

Deno.test("weavets rmpeer: an unreachable daemon is reported, exit 1", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close(); // nothing listens there now
  // Through the entry point, which prints any error with a kind and exits by it (unavailable: 1).
  const r = await capture(() => main(["rmpeer", "--http-addr", `127.0.0.1:${port}`, A], {}));
  assert.equal(r.code, 1);
  assert.match(r.err, /cannot reach the weavets daemon at http:\/\/127\.0\.0\.1:\d+/);
});
