import assert from "node:assert/strict";
import { parseConfig } from "../config.ts";
import { parseEnv } from "../env.ts";
import { CniError, ErrorCode } from "../errors.ts";
import { listPendingReleases } from "../pending.ts";
import { DaemonIpam } from "./daemon.ts";

/** Where these tests' DELs keep releases (never the node's own directory). */
const PENDING = Deno.makeTempDirSync({ prefix: "wtc-pending-" });

/**
 * A one-route-table HTTP stand-in for the daemon, recording what the plugin asked; on TCP, or on
 * a Unix socket at `socket`.
 */
function serve(routes: Record<string, (body: string) => Response>, socket?: string) {
  const seen: string[] = [];
  const handler = async (req: Request) => {
    const u = new URL(req.url);
    const key = `${req.method} ${u.pathname}${u.search}`;
    seen.push(key);
    const h = routes[key];
    return h ? h(await req.text()) : new Response("no route\n", { status: 404 });
  };
  const server = socket
    ? Deno.serve({ path: socket, onListen: () => {} }, handler)
    : Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
  const addr = socket ?? `127.0.0.1:${(server.addr as Deno.NetAddr).port}`;
  return { server, seen, addr };
}

function ipam(addr: string, extra: Record<string, unknown> = {}, args = "") {
  const conf = parseConfig(JSON.stringify({
    cniVersion: "1.0.0",
    name: "n",
    type: "weavets",
    daemonAddress: addr,
    ...extra,
  }));
  const env = parseEnv({
    CNI_COMMAND: "ADD",
    CNI_CONTAINERID: "c1",
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

Deno.test("daemon ipam: allocate, claim, look up and release keyed by container id and ifname", async () => {
  const d = serve({
    "POST /ip/c1?ifname=eth0": () => new Response("10.32.0.5/12\n"),
    "GET /ipinfo/defaultsubnet": () => new Response("10.32.0.0/12\n"),
    "PUT /ip/c1/10.32.0.9/12?ifname=eth0": () => new Response(null, { status: 204 }),
    "GET /ip/c1?ifname=eth0": () => new Response("10.32.0.5/12\n"),
    "DELETE /ip/c1?ifname=eth0": () => new Response(null, { status: 204 }),
  });
  try {
    assert.deepEqual((await ipam(d.addr).add()).ips, [{ address: "10.32.0.5/12" }]);
    // CNI_ARGS IP= without a length takes the daemon's default subnet's.
    const claimed = await ipam(d.addr, {}, "IgnoreUnknown=1;IP=10.32.0.9").add();
    assert.deepEqual(claimed.ips, [{ address: "10.32.0.9/12" }]);
    await ipam(d.addr).check([{ address: "10.32.0.5/12" }]);
    assert.equal(await code(ipam(d.addr).check([{ address: "10.32.0.6/12" }])), 100);
    await ipam(d.addr).del();
    assert.deepEqual(d.seen, [
      "POST /ip/c1?ifname=eth0",
      "GET /ipinfo/defaultsubnet",
      "PUT /ip/c1/10.32.0.9/12?ifname=eth0",
      "GET /ip/c1?ifname=eth0",
      "GET /ip/c1?ifname=eth0",
      "DELETE /ip/c1?ifname=eth0",
    ]);
  } finally {
    await d.server.shutdown();
  }
});

Deno.test("daemon ipam: refusals are error 5, no daemon is 11; a DEL it cannot take is kept", async () => {
  const d = serve({
    "POST /ip/c1?ifname=eth0": () => new Response("range full\n", { status: 400 }),
    "DELETE /ip/c1?ifname=eth0": () => new Response("busy\n", { status: 503 }),
    "GET /ip/c1?ifname=eth0": () => new Response("not-an-address\n"),
  });
  const kept = () => listPendingReleases(PENDING).map((e) => e.record);
  try {
    const refused = ipam(d.addr).add();
    assert.equal(await code(refused), ErrorCode.IOFailure);
    await assert.rejects(
      ipam(d.addr).add(),
      /answered POST \/ip\/c1\?ifname=eth0 with 400: range full/,
    );
    // 503 (not ready): DEL succeeds, the release is kept for the daemon.
    assert.deepEqual(kept(), []);
    assert.equal(await code(ipam(d.addr).del()), 0);
    assert.deepEqual(kept().map((r) => typeof r === "object" && [r.id, r.ifname, r.daemon]), [
      ["c1", "eth0", d.addr],
    ]);
    assert.equal(await code(ipam(d.addr).check([{ address: "10.0.0.1/8" }])), 100);
  } finally {
    await d.server.shutdown();
  }
  // Nothing listens there any more: ADD is 11; DEL succeeds, keeping the release (once).
  assert.equal(await code(ipam(d.addr).add()), ErrorCode.TryAgainLater);
  assert.equal(await code(ipam(d.addr).del()), 0);
  assert.equal(kept().length, 1);
  Deno.removeSync(PENDING, { recursive: true });
});

Deno.test("daemon ipam: GC posts the valid attachments and keeps the bridge's address", async () => {
  let body = "";
  const d = serve({
    "POST /ipam/gc": (b) => {
      body = b;
      return new Response(null, { status: 204 });
    },
  });
  try {
    await ipam(d.addr).gc([
      { containerID: "a", ifname: "eth0" },
      { containerID: "a", ifname: "net1" },
      { containerID: "b", ifname: "eth0" },
    ]);
    assert.deepEqual(JSON.parse(body), {
      ids: [
        "weave:expose",
        { id: "a", ifname: "eth0" },
        { id: "a", ifname: "net1" },
        { id: "b", ifname: "eth0" },
      ],
    });
  } finally {
    await d.server.shutdown();
  }
});

Deno.test("daemon status: ready → ok; 503 → 50 with the reason; this node connected to none of its peers → 51", async () => {
  const { checkDaemonStatus } = await import("./daemon_status.ts");
  let status = { ready: true, reason: null as string | null };
  // Alone (no targets): nothing to reach, not limited.
  let conns: unknown[] = [];
  const d = serve({
    "GET /status": () => Response.json(status, { status: status.ready ? 200 : 503 }),
    "GET /status/connections": () => Response.json(conns),
  });
  const base = d.addr;
  try {
    await checkDaemonStatus(base);
    conns = [
      { direction: "outbound", address: "198.18.0.11:6783", state: "retrying" },
      { direction: "outbound", address: "198.18.0.12:6783", state: "connecting" },
    ];
    await assert.rejects(
      checkDaemonStatus(base),
      /limited connectivity: no connection to any other peer \(trying 198\.18\.0\.11:6783, /,
    );
    assert.equal(await code(checkDaemonStatus(base)), ErrorCode.LimitedConnectivity);
    conns.push({ direction: "inbound", address: "198.18.0.13:40000", state: "established" });
    await checkDaemonStatus(base);
    status = { ready: false, reason: "IPAM: awaiting consensus (quorum 2, known 1)" };
    await assert.rejects(checkDaemonStatus(base), /not ready to set up pods: IPAM: awaiting/);
    assert.equal(await code(checkDaemonStatus(base)), ErrorCode.PluginNotAvailable);
  } finally {
    await d.server.shutdown();
  }
  assert.equal(await code(checkDaemonStatus(base)), ErrorCode.PluginNotAvailable);
});

Deno.test("daemon ipam: a Unix-socket API (daemonAddress or WEAVE_HTTP_ADDR a path, as Weave's)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wtc-api-" });
  const socket = `${dir}/weave.sock`;
  const d = serve({
    "POST /ip/c1?ifname=eth0": () => new Response("10.32.0.5/12"),
    "DELETE /ip/c1?ifname=eth0": () => new Response(null, { status: 204 }),
    "GET /status": () => Response.json({ ready: true, reason: null }),
    "GET /status/connections": () => Response.json([]),
  }, socket);
  try {
    assert.deepEqual((await ipam(socket).add()).ips, [{ address: "10.32.0.5/12" }]);
    await ipam(socket).status();
    // From the environment, as Weave's plugin read WEAVE_HTTP_ADDR.
    const conf = parseConfig('{"cniVersion":"1.0.0","name":"n","type":"weave-net"}');
    const env = parseEnv({ CNI_COMMAND: "DEL", CNI_CONTAINERID: "c1", CNI_IFNAME: "eth0" });
    const fromEnv = new DaemonIpam(
      { conf, env, rawConfig: "", processEnv: { WEAVE_HTTP_ADDR: socket } },
      PENDING,
    );
    await fromEnv.del();
    assert.deepEqual(d.seen, [
      "POST /ip/c1?ifname=eth0",
      "GET /status",
      "GET /status/connections",
      "DELETE /ip/c1?ifname=eth0",
    ]);
  } finally {
    await d.server.shutdown();
    await Deno.remove(dir, { recursive: true });
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
  }
});
