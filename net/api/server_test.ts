import assert from "node:assert/strict";
import { Logger } from "../log.ts";
import { jsonResponse, textResponse, wantsJson } from "./route.ts";
import { parseListenAddress } from "./listen_address.ts";
import { startApiServer } from "./server.ts";

const quiet = new Logger({ sink: { write() {} } });

Deno.test("api server: routes by method and path, with params, 404, 405, 413 and 500", async () => {
  const server = startApiServer({
    addr: "127.0.0.1:0",
    log: quiet,
    maxBodyBytes: 16,
    routes: [
      {
        method: "GET",
        path: "/hello/:who",
        handle: (req, p) =>
          wantsJson(req) ? jsonResponse({ who: p.who }) : textResponse(`hi ${p.who}`),
      },
      { method: "POST", path: "/echo", handle: async (req) => textResponse(await req.text()) },
      {
        method: "GET",
        path: "/boom",
        handle: () => {
          throw new Error("kaput");
        },
      },
    ],
  });
  const base = `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`;
  try {
    let r = await fetch(`${base}/hello/bob`);
    assert.equal(r.status, 200);
    assert.equal(await r.text(), "hi bob\n");
    r = await fetch(`${base}/hello/bob`, { headers: { accept: "application/json" } });
    assert.deepEqual(await r.json(), { who: "bob" });
    r = await fetch(`${base}/nope`);
    assert.equal(r.status, 404);
    assert.match(await r.text(), /no such endpoint: \/nope/);
    r = await fetch(`${base}/hello/bob`, { method: "DELETE" });
    assert.equal(r.status, 405);
    await r.body?.cancel();
    const json = { "content-type": "application/json" };
    r = await fetch(`${base}/echo`, { method: "POST", body: "small", headers: json });
    assert.equal(await r.text(), "small\n");
    r = await fetch(`${base}/echo`, { method: "POST", body: "small" });
    assert.equal(r.status, 415, "a body that is not JSON is refused");
    assert.match(await r.text(), /must be sent as content-type application\/json/);
    r = await fetch(`${base}/echo`, { method: "POST", body: "x".repeat(17), headers: json });
    assert.equal(r.status, 413);
    await r.body?.cancel();
    // A body without a declared length is counted as it streams.
    const stream = new ReadableStream({
      start(c) {
        for (let i = 0; i < 4; i++) c.enqueue(new TextEncoder().encode("xxxxxxxx"));
        c.close();
      },
    });
    r = await fetch(`${base}/echo`, { method: "POST", body: stream, headers: json });
    assert.equal(r.status, 413);
    await r.body?.cancel();
    r = await fetch(`${base}/boom`);
    assert.equal(r.status, 500);
    assert.match(await r.text(), /kaput/);
  } finally {
    await server.shutdown();
  }
});

Deno.test("api server: listen addresses are validated with a precise message", () => {
  assert.deepEqual(parseListenAddress("127.0.0.1:6784"), {
    transport: "tcp",
    hostname: "127.0.0.1",
    port: 6784,
  });
  assert.deepEqual(parseListenAddress(":6782"), {
    transport: "tcp",
    hostname: "0.0.0.0",
    port: 6782,
  });
  assert.deepEqual(parseListenAddress("/run/weave/weave.sock"), {
    transport: "unix",
    path: "/run/weave/weave.sock",
  });
  for (const bad of ["6784", "localhost:1", "1.2.3.4:70000", "1.2.3.256:1", "1.2.3.4", "run/x"]) {
    assert.throws(() => parseListenAddress(bad), new RegExp(`invalid listen address "${bad}"`));
  }
});

Deno.test("api server: a duplicate route is refused at start", () => {
  const r = { method: "GET" as const, path: "/x", handle: () => textResponse("") };
  assert.throws(
    () => startApiServer({ addr: "127.0.0.1:0", log: quiet, routes: [r, r] }),
    /registered twice: GET \/x/,
  );
});

Deno.test("api server: on TCP, routes that change state answer only root (the kernel says who)", async () => {
  const seen: Array<[string, string]> = [];
  let uid: number | null = 65534;
  const server = startApiServer({
    addr: "127.0.0.1:0",
    log: quiet,
    socketOwner: (client, srv) => {
      seen.push([`${client.ip}:${client.port}`, `${srv.ip}:${srv.port}`]);
      return uid;
    },
    routes: [
      { method: "GET", path: "/status", handle: () => textResponse("fine") },
      { method: "POST", path: "/ip/:id", handle: () => textResponse("10.32.0.1/12") },
      { method: "GET", path: "/ip", access: "root", handle: () => textResponse("[]") },
    ],
  });
  const port = (server.addr as Deno.NetAddr).port;
  const base = `http://127.0.0.1:${port}`;
  try {
    assert.equal(await (await fetch(`${base}/status`)).text(), "fine\n");
    assert.equal(seen.length, 0, "no lookup for a public route");
    for (const [method, path] of [["POST", "/ip/c1"], ["GET", "/ip"]]) {
      const r = await fetch(base + path, { method });
      assert.equal(r.status, 403, `${method} ${path}`);
      assert.match(
        await r.text(),
        /allowed only for root on this node \(the caller is uid 65534\)/,
      );
    }
    assert.match(seen[0][0], /^127\.0\.0\.1:\d+$/);
    assert.equal(seen[0][1], `127.0.0.1:${port}`, "the client's socket looked up towards us");
    uid = 0;
    assert.equal((await fetch(`${base}/ip/c1`, { method: "POST" })).status, 200);
  } finally {
    await server.shutdown();
  }
});

Deno.test("api server: a Unix socket is created 0600 where only root reaches it", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "wti-api-" });
  const path = `${dir}/run/weave.sock`;
  const routes = [{ method: "POST" as const, path: "/x", handle: () => textResponse("ok") }];
  try {
    Deno.mkdirSync(`${dir}/run`);
    Deno.writeTextFileSync(path, "left by a dead daemon");
    const server = startApiServer({ addr: path, log: quiet, routes });
    const st = Deno.lstatSync(path);
    assert.ok(st.isSocket, "the stale file was replaced by the socket");
    assert.equal(st.mode! & 0o777, 0o600);
    assert.deepEqual(
      [...Deno.readDirSync(`${dir}/run`)].map((e) => e.name),
      ["weave.sock"],
      "no temporary directory left behind",
    );
    const client = Deno.createHttpClient({ proxy: { transport: "unix", path } });
    const r = await fetch("http://weavets/x", { method: "POST", client });
    assert.equal(await r.text(), "ok\n", "callers on the socket may change state");
    client.close();
    await server.shutdown();
    assert.throws(() => Deno.lstatSync(path), Deno.errors.NotFound);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
