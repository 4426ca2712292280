/**
 * Weave Net's router endpoints and --status-addr on a running daemon (two daemons on loopback),
 * answered as Weave 2.8.1 answers: POST /connect and /forget with `weave connect`'s form body,
 * GET /status/targets one per line, "TrustedSubnets" in /status.
 */
import assert from "node:assert/strict";
import { textResponse } from "../api/route.ts";
import { Logger } from "../log.ts";
import type { CoreConfig } from "./config.ts";
import { type Daemon, startDaemon } from "./daemon.ts";

const quiet = new Logger({ sink: { write() {} } });

function config(dir: string, name: string, over: Partial<CoreConfig> = {}): CoreConfig {
  return {
    name,
    nickname: name.slice(-2),
    host: "127.0.0.1",
    port: 0,
    httpAddr: "127.0.0.1:0",
    metricsAddr: null,
    datadir: dir,
    password: null,
    connLimit: 10,
    peers: [],
    ...over,
  };
}

const api = (d: Daemon) => `http://127.0.0.1:${(d.httpAddr as Deno.NetAddr).port}`;

async function post(url: string, body: string, type = "application/x-www-form-urlencoded") {
  const r = await fetch(url, { method: "POST", body, headers: { "content-type": type } });
  return { status: r.status, text: await r.text() };
}

let dbg: (() => unknown) | undefined;
async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 10_000) {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) {
      throw new Error(`timed out waiting for ${what} ${JSON.stringify(dbg?.())}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test("daemon: Weave's POST /connect, /status/targets and POST /forget", async () => {
  const dirs = [Deno.makeTempDirSync(), Deno.makeTempDirSync()];
  const a = await startDaemon(
    // conn-limit 0: unlimited, as Weave (the connection below is admitted).
    config(dirs[0], "02:00:00:00:0a:01", {
      trustedSubnets: ["10.0.0.0/8", "192.168.0.0/16"],
      connLimit: 0,
    }),
    {
      log: quiet,
      components: [{
        name: "fake",
        routes: () => [{ method: "POST", path: "/fake", handle: () => textResponse("ok") }],
      }],
    },
  );
  const b = await startDaemon(config(dirs[1], "02:00:00:00:0a:02"), { log: quiet });
  try {
    const target = `127.0.0.1:${b.mesh.port}`;
    // `weave connect` sends: curl -X POST -d peer=ADDR http://127.0.0.1:6784/connect
    assert.deepEqual(await post(`${api(a)}/connect`, `peer=${target}`), { status: 200, text: "" });
    await until("a connection to b", () => a.mesh.connectionCount() === 1);
    assert.equal(await (await fetch(`${api(a)}/status/targets`)).text(), `${target}\n`);
    // Weave adds the valid peers and answers 400 naming each invalid one.
    const bad = await post(`${api(a)}/connect`, "peer=10.9.9.9&peer=bad:port");
    assert.deepEqual(bad, {
      status: 400,
      text: 'invalid peer name "bad:port", should be host[:port]\n',
    });
    assert.equal(
      await (await fetch(`${api(a)}/status/targets`)).text(),
      `${target}\n10.9.9.9:6783\n`,
    );
    // replace=true: these become the only ones.
    const replaced = await post(`${api(a)}/connect`, `replace=true&peer=${target}`);
    assert.equal(replaced.status, 200);
    assert.equal(await (await fetch(`${api(a)}/status/targets`)).text(), `${target}\n`);
    // JSON works too (weavets' own clients); forget stops dialling, whatever was given: 200.
    const forgot = await post(
      `${api(a)}/forget`,
      JSON.stringify({ peer: [target, "not an address"] }),
      "application/json",
    );
    assert.deepEqual(forgot, { status: 200, text: "" });
    assert.equal(await (await fetch(`${api(a)}/status/targets`)).text(), "");
    assert.equal(a.mesh.connectionCount(), 1, "an established connection stays (Weave too)");
    // Form bodies only where Weave took them (negative control: another root route refuses).
    assert.equal((await post(`${api(a)}/fake`, "x=1")).status, 415);
    assert.equal((await post(`${api(a)}/connect`, "peer=x", "text/plain")).status, 415);
    // Browsers are kept out of the form routes by their Origin header.
    const page = await fetch(`${api(a)}/connect`, {
      method: "POST",
      body: `peer=${target}`,
      headers: { "content-type": "application/x-www-form-urlencoded", origin: "http://evil" },
    });
    assert.equal(page.status, 403);
    await page.body?.cancel();
    const status = await (await fetch(`${api(a)}/status`)).text();
    assert.match(status, /TrustedSubnets: 10\.0\.0\.0\/8, 192\.168\.0\.0\/16\n/);
    assert.match(await (await fetch(`${api(b)}/status`)).text(), /TrustedSubnets: none\n/);
  } finally {
    await a.stop();
    await b.stop();
    for (const d of dirs) Deno.removeSync(d, { recursive: true });
  }
});

Deno.test("daemon: --status-addr serves status and metrics, nothing that changes state", async () => {
  const dir = Deno.makeTempDirSync();
  const d = await startDaemon(
    config(dir, "02:00:00:00:0b:01", { statusAddr: "127.0.0.1:0" }),
    { log: quiet },
  );
  try {
    assert.equal(d.statusAddr?.transport, "tcp");
    const s = `http://127.0.0.1:${(d.statusAddr as Deno.NetAddr).port}`;
    for (const path of ["/status", "/status/peers", "/status/targets", "/report", "/metrics"]) {
      const r = await fetch(`${s}${path}`);
      await r.body?.cancel();
      assert.equal(r.status, 200, path);
    }
    const connect = await post(`${s}/connect`, "peer=127.0.0.1");
    assert.equal(connect.status, 404, "POST /connect is not on the status address");
    assert.equal((await post(`${api(d)}/connect`, "peer=127.0.0.1")).status, 200, "but on the API");
  } finally {
    await d.stop();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("daemon: GET /report?format= and 'weavets report -f' (Weave's Go templates)", async () => {
  const dir = Deno.makeTempDirSync();
  const d = await startDaemon(config(dir, "02:00:00:00:0c:01", { nickname: "rep" }), {
    log: quiet,
  });
  const get = async (q: string) => {
    const r = await fetch(`${api(d)}/report${q}`);
    return { status: r.status, text: await r.text() };
  };
  try {
    const f = (t: string) => `?format=${encodeURIComponent(t)}`;
    assert.deepEqual(await get(f("{{.Router.Name}}({{.Router.NickName}})")), {
      status: 200,
      text: "02:00:00:00:0c:01(rep)",
    });
    assert.deepEqual(await get(f("{{len .Router.Peers}} {{json .Ready}}")), {
      status: 200,
      text: "1 true",
    });
    const bad = await get(f("{{.Router.Nope}}"));
    assert.equal(bad.status, 400);
    assert.match(bad.text, /^template: can't evaluate field Nope/);
    assert.equal((await get("?format=a&format=b")).status, 400, "Weave: one format parameter");
    assert.equal(JSON.parse((await get("")).text).router.name, "02:00:00:00:0c:01");
    // The CLI, as an operator runs it.
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../../mod.ts", import.meta.url).pathname,
        "report",
        "-f",
        "{{.Router.NickName}}",
        "--http-addr",
        `127.0.0.1:${(d.httpAddr as Deno.NetAddr).port}`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(new TextDecoder().decode(out.stdout), "rep", new TextDecoder().decode(out.stderr));
    assert.equal(out.code, 0);
  } finally {
    await d.stop();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("daemon: --no-discovery dials only the peers given (Weave's meaning)", async () => {
  const dirs = [0, 1, 2, 3].map(() => Deno.makeTempDirSync());
  // Only a and the control may discover: c and b dial nobody they were not given.
  const off = { log: quiet, mesh: { discovery: false } };
  const c = await startDaemon(config(dirs[0], "02:00:00:00:0d:03"), off);
  const b = await startDaemon(
    config(dirs[1], "02:00:00:00:0d:02", { peers: [`127.0.0.1:${c.mesh.port}`] }),
    off,
  );
  const viaB = { peers: [`127.0.0.1:${b.mesh.port}`] };
  const a = await startDaemon(config(dirs[2], "02:00:00:00:0d:01", viaB), off);
  // The control: the same peer with discovery on reaches c through what b gossips.
  const curious = await startDaemon(config(dirs[3], "02:00:00:00:0d:04", viaB), { log: quiet });
  // What a peer dialled itself (the control may also dial a: that is not a's doing).
  const dialled = (d: Daemon) =>
    d.mesh.status().connections
      .filter((x) => x.direction === "outbound" && x.state === "established")
      .map((x) => x.address);
  const cAddr = `127.0.0.1:${c.mesh.port}`;
  dbg = () => ({ a: a.mesh.status(), cur: curious.mesh.status(), c: cAddr });
  try {
    await until("the control to discover c", () => dialled(curious).includes(cAddr));
    await until("a to learn of c", () => a.mesh.peers().some((p) => p.name === c.mesh.self));
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(dialled(a), [`127.0.0.1:${b.mesh.port}`], "only b, the peer it was given");
    assert.match(await (await fetch(`${api(a)}/status`)).text(), /PeerDiscovery: disabled/);
  } finally {
    for (const d of [curious, a, b, c]) await d.stop();
    for (const d of dirs) Deno.removeSync(d, { recursive: true });
  }
});

Deno.test("daemon: 'weavets connect' and 'weavets forget' (weave connect / forget)", async () => {
  const dir = Deno.makeTempDirSync();
  const d = await startDaemon(config(dir, "02:00:00:00:0e:01"), { log: quiet });
  const cli = async (...args: string[]) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../../mod.ts", import.meta.url).pathname,
        ...args,
        "--http-addr",
        `127.0.0.1:${(d.httpAddr as Deno.NetAddr).port}`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: out.code, err: new TextDecoder().decode(out.stderr) };
  };
  const targets = async () => await (await fetch(`${api(d)}/status/targets`)).text();
  try {
    assert.equal((await cli("connect", "10.0.0.5", "10.0.0.6:7000")).code, 0);
    assert.equal(await targets(), "10.0.0.5:6783\n10.0.0.6:7000\n");
    assert.equal((await cli("forget", "10.0.0.5")).code, 0);
    assert.equal(await targets(), "10.0.0.6:7000\n");
    assert.equal((await cli("connect", "--replace", "10.0.0.7")).code, 0);
    assert.equal(await targets(), "10.0.0.7:6783\n");
    const bad = await cli("connect", "bad:port");
    assert.equal(bad.code, 1);
    assert.match(bad.err, /weavets connect: invalid peer name "bad:port", should be host\[:port\]/);
    assert.equal((await cli("forget")).code, 2, "no peer: a usage error");
  } finally {
    await d.stop();
    Deno.removeSync(dir, { recursive: true });
  }
});
