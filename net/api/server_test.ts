import assert from "node:assert/strict";
import { Logger } from "../log.ts";
import { jsonResponse, textResponse, wantsJson } from "./route.ts";
import { parseListenAddress, startApiServer } from "./server.ts";

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
  const base = `http://127.0.0.1:${server.addr.port}`;
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
    r = await fetch(`${base}/echo`, { method: "POST", body: "small" });
    assert.equal(await r.text(), "small\n");
    r = await fetch(`${base}/echo`, { method: "POST", body: "x".repeat(17) });
    assert.equal(r.status, 413);
    await r.body?.cancel();
    // A body without a declared length is counted as it streams.
    const stream = new ReadableStream({
      start(c) {
        for (let i = 0; i < 4; i++) c.enqueue(new TextEncoder().encode("xxxxxxxx"));
        c.close();
      },
    });
    r = await fetch(`${base}/echo`, { method: "POST", body: stream });
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
  assert.deepEqual(parseListenAddress("127.0.0.1:6784"), { hostname: "127.0.0.1", port: 6784 });
  assert.deepEqual(parseListenAddress(":6782"), { hostname: "0.0.0.0", port: 6782 });
  for (const bad of ["6784", "localhost:1", "1.2.3.4:70000", "1.2.3.256:1", "1.2.3.4"]) {
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
