/**
 * IPAM inside the real daemon (in process, loopback only, no root): three daemons with the IPAM
 * component, the HTTP API over TCP, readiness until consensus, status and metrics, a restart
 * from the data dir, and `weavets rmpeer` against a survivor.
 */
import assert from "node:assert/strict";
import { run as rmpeer } from "../../cli/rmpeer.ts";
import { Logger } from "../../net/log.ts";
import type { CoreConfig } from "../../net/daemon/config.ts";
import { type Daemon, startDaemon } from "../../net/daemon/daemon.ts";
import { ipamComponent } from "../../net/ipam/component.ts";
import { FAST_MESH_TIMING } from "../../net/mesh/testing/fast_timing.ts";

const quiet = new Logger({ sink: { write() {} }, json: true });
const NAMES = ["0f:00:00:00:00:01", "0f:00:00:00:00:02", "0f:00:00:00:00:03"];

async function start(i: number, dir: string, peers: string[]): Promise<Daemon> {
  const config: CoreConfig = {
    name: NAMES[i],
    nickname: `d${i}`,
    host: "127.0.0.1",
    port: 0,
    httpAddr: "127.0.0.1:0",
    metricsAddr: null,
    datadir: dir,
    password: null,
    connLimit: 10,
    peers,
  };
  const ipam = ipamComponent({
    range: "10.53.0.0/22",
    init: "consensus",
    expectedPeers: 3,
    datadir: dir,
    log: quiet,
    waitMs: 8_000,
    tickMs: 50,
  });
  return await startDaemon(config, { log: quiet, components: [ipam], timing: FAST_MESH_TIMING });
}

const api = (d: Daemon) => `http://127.0.0.1:${(d.httpAddr as Deno.NetAddr).port}`;

async function http(d: Daemon, method: string, path: string) {
  const r = await fetch(api(d) + path, { method });
  return { status: r.status, text: (await r.text()).trim() };
}

Deno.test("IPAM in three daemons: readiness, allocations, restart from disk, rmpeer", async () => {
  const dirs = NAMES.map(() => Deno.makeTempDirSync({ prefix: "wti-ipamd-" }));
  const ds: Daemon[] = [];
  try {
    ds.push(await start(0, dirs[0], []));
    const status = await http(ds[0], "GET", "/status");
    assert.equal(status.status, 503);
    assert.match(status.text, /ipam: waiting for consensus \(known 1 of 2\)/);
    const seed = `127.0.0.1:${ds[0].mesh.port}`;
    ds.push(await start(1, dirs[1], [seed]), await start(2, dirs[2], [seed]));

    const got = await Promise.all(
      Array.from({ length: 90 }, (_, i) => http(ds[i % 3], "POST", `/ip/pod${i}?ifname=eth0`)),
    );
    for (const r of got) assert.equal(r.status, 200, r.text);
    assert.equal(new Set(got.map((r) => r.text)).size, 90);
    assert.equal((await http(ds[0], "GET", "/status")).status, 200);
    const st = (await http(ds[0], "GET", "/status")).text;
    assert.match(st, /Service: ipam\n +Status: ready\n +Range: 10\.53\.0\.0\/22/);
    const metrics = (await http(ds[0], "GET", "/metrics")).text;
    assert.match(metrics, /^weavets_ips 30$/m);
    assert.match(metrics, /^weavets_max_ips 1024$/m);

    // Restart daemon 1 from its data dir: its allocations are still there.
    await ds[1].stop();
    ds[1] = await start(1, dirs[1], [seed]);
    for (let i = 1; i < 90; i += 3) {
      assert.equal((await http(ds[1], "GET", `/ip/pod${i}?ifname=eth0`)).text, got[i].text);
    }

    // Daemon 2 dies; rmpeer on daemon 0 takes its space over.
    await ds[2].stop();
    const deadline = Date.now() + 5_000;
    // Its own line (right after daemon 1's restart, daemon 1 may show unreachable for a moment),
    // on both survivors: until daemon 1 has seen the connection go, its topology entry still
    // names one to daemon 2, and daemon 0 may take daemon 2 as reachable through it again.
    const gone = new RegExp(`^${NAMES[2]}\\S* .* - unreachable!$`, "m");
    const bothSee = async () =>
      gone.test((await http(ds[0], "GET", "/status/ipam")).text) &&
      gone.test((await http(ds[1], "GET", "/status/ipam")).text);
    while (!(await bothSee())) {
      assert.ok(Date.now() < deadline, "peer 3 never became unreachable");
      await new Promise((r) => setTimeout(r, 50));
    }
    const [log] = [console.log];
    const out: string[] = [];
    console.log = (s: string) => out.push(s);
    let code;
    try {
      code = await rmpeer([
        "--http-addr",
        `127.0.0.1:${(ds[0].httpAddr as Deno.NetAddr).port}`,
        NAMES[2],
      ]);
    } finally {
      console.log = log;
    }
    assert.equal(code, 0);
    assert.match(out.join(""), new RegExp(`^\\d+ IPs taken over from ${NAMES[2]}$`));
    const after = (await http(ds[0], "GET", "/status/ipam")).text;
    assert.doesNotMatch(after, /unreachable!/);
  } finally {
    for (const d of ds) await d.stop().catch(() => {});
    for (const dir of dirs) Deno.removeSync(dir, { recursive: true });
  }
});
