/** `weavets peers`, `weavets status` and `weavets daemon` flag handling, run as the real binary. */
import assert from "node:assert/strict";
import { runWeavets } from "../harness/binary.ts";
import { Logger } from "../../net/log.ts";
import { startDaemon } from "../../net/daemon/daemon.ts";

const quiet = new Logger({ sink: { write() {} } });
const ENV = { PATH: "/usr/bin:/bin" };

Deno.test("cli: peers and status read the daemon's API as text or JSON", async () => {
  const dir = Deno.makeTempDirSync();
  const d = await startDaemon({
    name: "02:00:00:00:00:01",
    nickname: "solo",
    host: "127.0.0.1",
    port: 0,
    httpAddr: "127.0.0.1:0",
    metricsAddr: null,
    datadir: dir,
    password: "pw",
    connLimit: 10,
    peers: ["127.0.0.1:1"],
  }, { log: quiet });
  const addr = `127.0.0.1:${(d.httpAddr as Deno.NetAddr).port}`;
  const run = (...args: string[]) =>
    runWeavets([...args, "--http-addr", addr], { env: ENV, clearEnv: true });
  try {
    let r = await run("peers");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "02:00:00:00:00:01(solo)\n");
    r = await run("peers", "--json");
    assert.equal(JSON.parse(r.stdout)[0].nickname, "solo");
    r = await run("status");
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Name: 02:00:00:00:00:01\(solo\)\n +Encryption: enabled\n/);
    assert.match(r.stdout, /Targets: 1\n/);
    r = await run("status", "connections");
    assert.match(r.stdout, /^-> 127\.0\.0\.1:1 +(connecting|retrying) +encrypted/);
    r = await run("status", "ipam");
    assert.equal(r.code, 1);
    assert.match(r.stderr, /IPAM not enabled/);
    r = await run("status", "--json");
    assert.equal(JSON.parse(r.stdout).ready, true);
  } finally {
    await d.stop();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("cli: an unreachable daemon is reported, exit 1; a bad --http-addr is a usage error", async () => {
  const port = (() => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const p = l.addr.port;
    l.close();
    return p;
  })();
  for (const cmd of [["peers"], ["status"], ["status", "connections"]]) {
    const r = await runWeavets([...cmd, "--http-addr", `127.0.0.1:${port}`], {
      env: ENV,
      clearEnv: true,
    });
    assert.equal(r.code, 1, cmd.join(" "));
    assert.match(
      r.stderr,
      new RegExp(`cannot reach the weavets daemon at http://127\\.0\\.0\\.1:${port}`),
    );
  }
  const bad = await runWeavets(["peers", "--http-addr", "nowhere"], { env: ENV, clearEnv: true });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--http-addr: invalid listen address "nowhere"/);
  const env = await runWeavets(["status"], {
    env: { ...ENV, WEAVE_HTTP_ADDR: "x" },
    clearEnv: true,
  });
  assert.equal(env.code, 2);
  assert.match(env.stderr, /WEAVE_HTTP_ADDR: invalid listen address "x"/);
});

Deno.test("cli: daemon flag and variable errors name the culprit, exit 2", async () => {
  let r = await runWeavets(["daemon", "--conn-limit", "lots"], { env: ENV, clearEnv: true });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--conn-limit: must be an integer from 0 to 100000, got "lots"/);
  r = await runWeavets(["daemon"], {
    env: { ...ENV, WEAVE_METRICS_ADDR: "0.0.0.0" },
    clearEnv: true,
  });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /WEAVE_METRICS_ADDR: invalid listen address "0.0.0.0"/);
  r = await runWeavets(["daemon", "--help"], { env: ENV, clearEnv: true });
  assert.equal(r.code, 0);
  assert.match(r.stdout, /--conn-limit N +maximum connections, 0 unlimited \[CONN_LIMIT\]/);
});
