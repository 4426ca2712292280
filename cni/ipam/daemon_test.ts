import assert from "node:assert/strict";
import { parseConfig } from "../config.ts";
import { parseEnv } from "../env.ts";
import { CniError, ErrorCode } from "../errors.ts";
import { listPendingReleases } from "../pending.ts";
import { DaemonIpam } from "./daemon.ts";
import { daemonFetch } from "./daemon_api.ts";
import { checkDaemonStatus } from "./daemon_status.ts";
import { Logger } from "../../net/log.ts";
import { startDaemon } from "../../net/daemon/daemon.ts";
import { ipamComponent } from "../../net/ipam/component.ts";
import { FAST_MESH_TIMING } from "../../net/mesh/testing/fast_timing.ts";

/** Where these tests' DELs keep releases (never the node's own directory). */
const PENDING = Deno.makeTempDirSync({ prefix: "wtc-pending-" });

/**
 * The real daemon core with the real IPAM service (net/ipam), in this process on loopback: what
 * the plugin talks to in a cluster, so its answers (status codes, bodies, content types) cannot
 * drift from the product's. `httpAddr` an absolute path: the API on a Unix socket. `waitMs`
 * short, so a request the ring cannot serve (not ready, full) is answered 503 at once.
 */
async function realDaemon(
  opts: { name?: string; range?: string; init?: string; peers?: string[]; httpAddr?: string } = {},
) {
  const datadir = await Deno.makeTempDir({ prefix: "wtc-ipamd-" });
  const log = new Logger({ json: true, level: "error" });
  const name = opts.name ?? `0a:00:00:00:00:${(++daemons).toString(16).padStart(2, "0")}`;
  const d = await startDaemon({
    name,
    nickname: name.slice(-2),
    host: "127.0.0.1",
    port: 0,
    httpAddr: opts.httpAddr ?? "127.0.0.1:0",
    metricsAddr: null,
    datadir,
    password: null,
    connLimit: 10,
    peers: opts.peers ?? [],
  }, {
    log,
    components: [ipamComponent({
      range: opts.range ?? "10.32.0.0/12",
      init: opts.init ?? `seed=${name}`,
      datadir,
      log,
      waitMs: 300,
      tickMs: 50,
    })],
    timing: FAST_MESH_TIMING,
  });
  const addr = "path" in d.httpAddr ? d.httpAddr.path : `127.0.0.1:${d.httpAddr.port}`;
  return {
    addr,
    meshPort: d.mesh.port,
    /** The real API, asked directly (not through the plugin). */
    get: async (path: string) => {
      const r = await daemonFetch(addr, path);
      return { status: r.status, text: (await r.text()).trim() };
    },
    async stop() {
      await d.stop();
      await Deno.remove(datadir, { recursive: true });
    },
  };
}
let daemons = 0;

/**
 * A recording front for the real daemon at `target`: every request is passed on unchanged and
 * noted; `control` answers the few a test must make fail in ways the real service never does
 * (a garbled body) — the test controls, nothing else.
 */
function front(target: string, control: Record<string, (body: string) => Response> = {}) {
  const seen: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const u = new URL(req.url);
    const key = `${req.method} ${u.pathname}${u.search}`;
    seen.push(key);
    const body = await req.text();
    if (control[key]) return control[key](body);
    const r = await daemonFetch(target, `${u.pathname}${u.search}`, {
      method: req.method,
      headers: req.headers,
      body: body === "" ? undefined : body,
    });
    const answer = await r.arrayBuffer();
    const empty = r.status === 204 || r.status === 304;
    return new Response(empty ? null : answer, { status: r.status, headers: r.headers });
  });
  const addr = `127.0.0.1:${(server.addr as Deno.NetAddr).port}`;
  return { server, seen, addr };
}

function ipam(addr: string, extra: Record<string, unknown> = {}, args = "", id = "c1") {
  const conf = parseConfig(JSON.stringify({
    cniVersion: "1.0.0",
    name: "n",
    type: "weavets",
    daemonAddress: addr,
    ...extra,
  }));
  const env = parseEnv({
    CNI_COMMAND: "ADD",
    CNI_CONTAINERID: id,
    CNI_NETNS: "/run/netns/x",
    CNI_IFNAME: "eth0",
    CNI_ARGS: args,
  });
  return new DaemonIpam({ conf, env, rawConfig: "", processEnv: {} }, PENDING);
}

async function code(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof CniError, String(e));
    return e.code;
  }
  return 0;
}

Deno.test("daemon ipam (real service): allocate, claim, look up and release keyed by container id and ifname; releasing what is not held succeeds", async () => {
  const real = await realDaemon();
  const d = front(real.addr);
  try {
    const got = (await ipam(d.addr).add()).ips![0].address;
    assert.match(got, /^10\.(3[2-9]|4[0-7])\.\d+\.\d+\/12$/);
    assert.deepEqual(await real.get("/ip/c1?ifname=eth0"), { status: 200, text: got });
    // CNI_ARGS IP= without a length takes the daemon's default subnet's.
    const claimed = await ipam(d.addr, {}, "IgnoreUnknown=1;IP=10.32.0.9", "c2").add();
    assert.deepEqual(claimed.ips, [{ address: "10.32.0.9/12" }]);
    await ipam(d.addr).check([{ address: got }]);
    assert.equal(await code(ipam(d.addr).check([{ address: "10.47.0.6/12" }])), 100);
    await ipam(d.addr).del();
    assert.equal((await real.get("/ip/c1?ifname=eth0")).status, 404, "released");
    // Again, with nothing held: the real service answers 204, DEL succeeds and keeps nothing.
    await ipam(d.addr).del();
    assert.deepEqual(listPendingReleases(PENDING), []);
    assert.deepEqual(d.seen, [
      "POST /ip/c1?ifname=eth0",
      "GET /ipinfo/defaultsubnet",
      "PUT /ip/c2/10.32.0.9/12?ifname=eth0",
      "GET /ip/c1?ifname=eth0",
      "GET /ip/c1?ifname=eth0",
      "DELETE /ip/c1?ifname=eth0",
      "DELETE /ip/c1?ifname=eth0",
    ]);
  } finally {
    await d.server.shutdown();
    await real.stop();
  }
});

Deno.test("daemon ipam (real service): a refusal is error 5, a full range 11; a DEL it cannot take (503) is kept; no daemon: ADD 11, DEL kept", async () => {
  const kept = () => listPendingReleases(PENDING).map((e) => e.record);
  // A /30: two addresses, then the real service answers 503 "no free addresses".
  const small = await realDaemon({ range: "10.33.0.0/30" });
  try {
    const add = (id: string, extra: Record<string, unknown> = {}) => {
      const conf = parseConfig(JSON.stringify({
        cniVersion: "1.0.0",
        name: "n",
        type: "weavets",
        daemonAddress: small.addr,
        ...extra,
      }));
      const env = parseEnv({
        CNI_COMMAND: "ADD",
        CNI_CONTAINERID: id,
        CNI_NETNS: "/run/netns/x",
        CNI_IFNAME: "eth0",
      });
      return new DaemonIpam({ conf, env, rawConfig: "", processEnv: {} }, PENDING).add();
    };
    // Outside the range: the real service's 400, error 5 with its reason.
    await assert.rejects(
      add("c0", { ipam: { subnet: "10.99.0.0/24" } }),
      /POST \/ip\/c0\/10\.99\.0\.0\/24\?ifname=eth0 with 400: subnet 10\.99\.0\.0\/24 is not inside/,
    );
    assert.equal(await code(add("c0", { ipam: { subnet: "10.99.0.0/24" } })), ErrorCode.IOFailure);
    await add("c1");
    await add("c2");
    assert.equal(await code(add("c3")), ErrorCode.TryAgainLater, "full: 503, try later");
  } finally {
    await small.stop();
  }

  // A ring still waiting for consensus releases what its store holds (204): nothing is kept.
  const waiting = await realDaemon({ init: "consensus=2" });
  try {
    assert.equal(await code(ipam(waiting.addr).del()), 0);
    assert.deepEqual(kept(), []);
  } finally {
    await waiting.stop();
  }

  // Test controls, for what the real service answers only in passing: 503 while it starts or
  // stops (IpamUnavailable), and a garbled body (never).
  const real = await realDaemon();
  const d = front(real.addr, {
    "DELETE /ip/c1?ifname=eth0": () => new Response("IPAM is stopping\n", { status: 503 }),
    "GET /ip/c1?ifname=eth0": () => new Response("not-an-address\n"),
  });
  try {
    // 503: DEL succeeds, the release is kept for the daemon.
    assert.equal(await code(ipam(d.addr).del()), 0);
    assert.deepEqual(kept().map((r) => typeof r === "object" && [r.id, r.ifname, r.daemon]), [
      ["c1", "eth0", d.addr],
    ]);
    assert.equal(await code(ipam(d.addr).check([{ address: "10.0.0.1/8" }])), 100);
  } finally {
    await d.server.shutdown();
    await real.stop();
  }
  // Nothing listens there any more: ADD is 11; DEL succeeds, keeping the release (once).
  assert.equal(await code(ipam(d.addr).add()), ErrorCode.TryAgainLater);
  assert.equal(await code(ipam(d.addr).del()), 0);
  assert.equal(kept().length, 1, "the same release, kept once");
  Deno.removeSync(PENDING, { recursive: true });
});

Deno.test("daemon ipam (real service): GC releases the stale attachments it is given and nothing else — not the valid ones, the bridge's address or what this network never added", async () => {
  const real = await realDaemon();
  const as = (id: string, ifname: string) => {
    const conf = parseConfig(JSON.stringify({
      cniVersion: "1.1.0",
      name: "n",
      type: "weavets",
      daemonAddress: real.addr,
    }));
    const env = parseEnv({
      CNI_COMMAND: "ADD",
      CNI_CONTAINERID: id,
      CNI_NETNS: "/run/netns/x",
      CNI_IFNAME: ifname,
    });
    return new DaemonIpam({ conf, env, rawConfig: "", processEnv: {} });
  };
  try {
    const bridge = await as("x", "eth0").bridgeAddress();
    // "weave:existing:…": a pod migrated from Weave Net, claimed at start (never ADDed here);
    // "other": a pod of another network on the same daemon.
    const ids = [["a", "eth0"], ["a", "net1"], ["b", "eth0"], ["c", "eth0"], ["other", "eth0"]];
    for (const [id, ifname] of ids) await as(id, ifname).add();
    const claim = await daemonFetch(
      real.addr,
      `/ip/${encodeURIComponent("weave:existing:vethwepl1234567")}?ifname=eth0`,
      { method: "POST" },
    );
    assert.equal(claim.status, 200, await claim.text());
    const valid = [
      { containerID: "a", ifname: "eth0" },
      { containerID: "a", ifname: "net1" },
      { containerID: "b", ifname: "eth0" },
    ];
    await as("a", "eth0").gc(valid, [{ containerID: "c", ifname: "eth0" }]);
    const held = async (id: string, ifname?: string) =>
      (await real.get(`/ip/${encodeURIComponent(id)}${ifname ? `?ifname=${ifname}` : ""}`))
        .status === 200;
    assert.deepEqual(
      [await held("a", "eth0"), await held("a", "net1"), await held("b", "eth0")],
      [true, true, true],
    );
    assert.equal(await held("c", "eth0"), false, "the stale allocation is released");
    assert.equal((await real.get("/ip/weave:expose")).text, bridge, "the bridge's is kept");
    assert.deepEqual(
      [await held("weave:existing:vethwepl1234567", "eth0"), await held("other", "eth0")],
      [true, true],
      "what this network's GC was not told is stale stays",
    );
  } finally {
    await real.stop();
  }
});

Deno.test("daemon status (real service): alone → ok; waiting for consensus → 50 with the reason; dialling only a peer that never answers → 51; connected → ok; gone → 50", async () => {
  const alone = await realDaemon();
  try {
    await checkDaemonStatus(alone.addr);
  } finally {
    await alone.stop();
  }
  const waiting = await realDaemon({ init: "consensus=2" });
  try {
    await assert.rejects(checkDaemonStatus(waiting.addr), /not ready to set up pods: .*consensus/);
    assert.equal(await code(checkDaemonStatus(waiting.addr)), ErrorCode.PluginNotAvailable);
  } finally {
    await waiting.stop();
  }
  // Its only peer is a closed port: this node reaches nobody.
  const cut = await realDaemon({ peers: ["127.0.0.1:9"] });
  try {
    await assert.rejects(
      checkDaemonStatus(cut.addr),
      /limited connectivity: no connection to any other peer \(trying 127\.0\.0\.1:9\)/,
    );
    assert.equal(await code(checkDaemonStatus(cut.addr)), ErrorCode.LimitedConnectivity);
  } finally {
    await cut.stop();
  }
  // Two real peers: once connected, both are fine.
  // One ring, seeded by a (b joins it); two rings would be a conflict, not a connection.
  const seed = "0a:00:00:00:00:a1";
  const a = await realDaemon({ name: seed, init: `seed=${seed}` });
  const b = await realDaemon({
    name: "0a:00:00:00:00:b1",
    init: `seed=${seed}`,
    peers: [`127.0.0.1:${a.meshPort}`],
  });
  try {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const c = await code(checkDaemonStatus(b.addr));
      if (c === 0) break;
      assert.ok(Date.now() < deadline, `b never connected to a (STATUS ${c})`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await checkDaemonStatus(a.addr);
  } finally {
    await b.stop();
    await a.stop();
  }
  assert.equal(await code(checkDaemonStatus(a.addr)), ErrorCode.PluginNotAvailable);
});

Deno.test("daemon ipam (real service): a Unix-socket API (daemonAddress or WEAVE_HTTP_ADDR a path, as Weave's)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wtc-api-" });
  const socket = `${dir}/weave.sock`;
  const real = await realDaemon({ httpAddr: socket });
  try {
    assert.equal(real.addr, socket);
    const got = (await ipam(socket).add()).ips![0].address;
    assert.deepEqual(await real.get("/ip/c1?ifname=eth0"), { status: 200, text: got });
    await ipam(socket).status();
    // From the environment, as Weave's plugin read WEAVE_HTTP_ADDR.
    const conf = parseConfig('{"cniVersion":"1.0.0","name":"n","type":"weave-net"}');
    const env = parseEnv({ CNI_COMMAND: "DEL", CNI_CONTAINERID: "c1", CNI_IFNAME: "eth0" });
    const fromEnv = new DaemonIpam(
      { conf, env, rawConfig: "", processEnv: { WEAVE_HTTP_ADDR: socket } },
      PENDING,
    );
    await fromEnv.del();
    assert.equal((await real.get("/ip/c1?ifname=eth0")).status, 404, "released");
  } finally {
    await real.stop();
  }
  // Gone: DEL keeps the release for that socket.
  const conf = parseConfig(JSON.stringify({ cniVersion: "1.0.0", name: "n", type: "weavets" }));
  const env = parseEnv({ CNI_COMMAND: "DEL", CNI_CONTAINERID: "c9", CNI_IFNAME: "eth0" });
  const dir2 = await Deno.makeTempDir({ prefix: "wtc-pending-" });
  try {
    await new DaemonIpam({
      conf,
      env,
      rawConfig: "",
      processEnv: { WEAVE_HTTP_ADDR: socket },
    }, dir2).del();
    const kept = listPendingReleases(dir2).map((e) => e.record as { daemon: string });
    assert.deepEqual(kept.map((r) => r.daemon), [socket]);
  } finally {
    await Deno.remove(dir2, { recursive: true });
    await Deno.remove(dir, { recursive: true });
  }
});
