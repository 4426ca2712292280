import assert from "node:assert/strict";
import { textResponse } from "../api/route.ts";
import { Logger } from "../log.ts";
import type { MeshView } from "../mesh/gossip_channel.ts";
import type { DaemonComponent } from "./component.ts";
import type { CoreConfig } from "./config.ts";
import { startDaemon } from "./daemon.ts";

const quiet = new Logger({ sink: { write() {} } });

function config(dir: string, over: Partial<CoreConfig> = {}): CoreConfig {
  return {
    name: "02:00:00:00:00:01",
    nickname: "one",
    host: "127.0.0.1",
    port: 0,
    httpAddr: "127.0.0.1:0",
    metricsAddr: "127.0.0.1:0",
    datadir: dir,
    password: null,
    connLimit: 10,
    peers: [],
    ...over,
  };
}

Deno.test("daemon: components plug in routes, readiness, status, report, data path and metrics", async () => {
  const dir = Deno.makeTempDirSync();
  const calls: string[] = [];
  let ready: string | null = "waiting for consensus";
  let view: MeshView | undefined;
  const fake: DaemonComponent = {
    name: "fake",
    routes: () => [{ method: "GET", path: "/status/fake", handle: () => textResponse("fake ok") }],
    metrics: (r) => r.gaugeFn("weavets_fake", "A fake metric.", () => [{ value: 7 }]),
    start: (mesh) => {
      view = mesh;
      calls.push("start");
    },
    stop: () => void calls.push("stop"),
    ready: () => ready,
    status: () => ({ service: "fake", fields: [["Status", "fine"]] }),
    report: () => ({ hello: 1 }),
    dataPath: () => "fastdp",
  };
  const d = await startDaemon(config(dir), { log: quiet, components: [fake] });
  const api = `http://127.0.0.1:${(d.httpAddr as Deno.NetAddr).port}`;
  try {
    assert.equal(view?.self, "02:00:00:00:00:01");
    let r = await fetch(`${api}/status`);
    assert.equal(r.status, 503);
    const text = await r.text();
    assert.match(text, /Ready: no \(fake: waiting for consensus\)/);
    assert.match(text, /Service: router\n/);
    assert.match(text, /Service: fake\n +Status: fine\n/);
    ready = null;
    r = await fetch(`${api}/status`, { headers: { accept: "application/json" } });
    assert.equal(r.status, 200);
    assert.equal((await r.json()).ready, true);
    r = await fetch(`${api}/status/fake`);
    assert.equal(await r.text(), "fake ok\n");
    const report = await (await fetch(`${api}/report`)).json();
    assert.deepEqual(report.fake, { hello: 1 });
    assert.equal(report.router.name, "02:00:00:00:00:01");
    r = await fetch(`${api}/status/peers`);
    assert.match(await r.text(), /^02:00:00:00:00:01\(one\)\n$/);
    const metrics =
      await (await fetch(`http://127.0.0.1:${(d.metricsAddr as Deno.NetAddr).port}/metrics`))
        .text();
    assert.match(metrics, /weavets_fake 7/);
    assert.match(metrics, /process_resident_memory_bytes \d+/);
    assert.match(metrics, /process_cpu_seconds_total [\d.]+/);
    assert.match(metrics, /weavets_peers\{reachable="true"\} 1/);
  } finally {
    await d.stop();
    Deno.removeSync(dir, { recursive: true });
  }
  assert.deepEqual(calls, ["start", "stop"]);
});

Deno.test("daemon: two daemons connect; connections show the component's data path", async () => {
  const dir = Deno.makeTempDirSync();
  const a = await startDaemon(config(`${dir}/a`, { metricsAddr: null }), { log: quiet });
  const b = await startDaemon(
    config(`${dir}/b`, {
      name: "02:00:00:00:00:02",
      metricsAddr: null,
      peers: [`127.0.0.1:${a.mesh.port}`],
    }),
    { log: quiet, components: [{ name: "dp", dataPath: () => "sleeve" }] },
  );
  try {
    const api = `http://127.0.0.1:${(b.httpAddr as Deno.NetAddr).port}`;
    for (let i = 0; i < 100 && a.mesh.connectionCount() === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const text = await (await fetch(`${api}/status/connections`)).text();
    assert.match(
      text,
      /^-> 127\.0\.0\.1:\d+ +established unencrypted sleeve +02:00:00:00:00:01\(one\)\n$/,
    );
    const json =
      await (await fetch(`${api}/status/connections`, { headers: { accept: "application/json" } }))
        .json();
    assert.equal(json[0].state, "established");
  } finally {
    await b.stop();
    await a.stop();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("daemon: a port in use fails the start and releases what was opened", async () => {
  const dir = Deno.makeTempDirSync();
  const blocker = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    await assert.rejects(
      startDaemon(config(dir, { httpAddr: `127.0.0.1:${blocker.addr.port}` }), { log: quiet }),
      /in use/i,
    );
  } finally {
    blocker.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("daemon: without a machine id the name is generated once and kept in the datadir", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const names: string[] = [];
    for (let i = 0; i < 2; i++) {
      const d = await startDaemon(config(dir, { name: null, metricsAddr: null }), { log: quiet });
      names.push(d.mesh.self);
      await d.stop();
    }
    assert.equal(names[0], names[1]);
    assert.equal(Deno.readTextFileSync(`${dir}/peer-name`).trim(), names[0]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("daemon: a data dir it creates is 0700 from the start, before any component runs", async () => {
  const parent = Deno.makeTempDirSync();
  const dir = `${parent}/var/lib/weavets`;
  let atStart = -1;
  const probe: DaemonComponent = {
    name: "probe",
    start: () => void (atStart = Deno.statSync(dir).mode! & 0o777),
    stop: () => {},
  };
  // As the usual umask would leave it: the mode comes from the daemon, not from the umask.
  const umask = Deno.umask(0o022);
  try {
    const d = await startDaemon(config(dir), { log: quiet, components: [probe] });
    await d.stop();
    assert.equal(atStart.toString(8), "700", "the data dir when the components start");
    assert.equal((Deno.statSync(`${parent}/var`).mode! & 0o777).toString(8), "700");
  } finally {
    Deno.umask(umask);
    Deno.removeSync(parent, { recursive: true });
  }
});
