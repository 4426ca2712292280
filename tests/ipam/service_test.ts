/**
 * The IPAM service end to end, in process: three services on an in-memory mesh (the
 * FakeNetwork test double), their HTTP handlers called with Request objects, SQLite stores in
 * temporary data dirs; and the bad-input cases through the real API server on 127.0.0.1:0.
 */
import assert from "node:assert/strict";
import { cidrContains, parseCidr } from "../../net/addr/mod.ts";
import { Registry } from "../../net/api/metrics.ts";
import { startApiServer } from "../../net/api/server.ts";
import { Logger } from "../../net/log.ts";
import { createIpam } from "../../net/ipam/component.ts";
import { ipamRoutes } from "../../net/ipam/http.ts";
import type { IpamService } from "../../net/ipam/service.ts";
import { FakeNetwork } from "../../net/ipam/testing/fake_mesh.ts";
import { call } from "./routes.ts";

const quiet = new Logger({ sink: { write() {} }, json: true });
const NAMES = ["0a:00:00:00:00:01", "0a:00:00:00:00:02", "0a:00:00:00:00:03"];

interface Cluster {
  net: FakeNetwork;
  svcs: IpamService[];
  dirs: string[];
  start(i: number): IpamService;
  close(): void;
}

function cluster(range: string, init: string, opts: { persist?: boolean; waitMs?: number } = {}) {
  const net = new FakeNetwork();
  const dirs = NAMES.map(() => opts.persist ? Deno.makeTempDirSync({ prefix: "wti-ipam-" }) : "");
  const c: Cluster = {
    net,
    dirs,
    svcs: [],
    start(i) {
      const svc = createIpam({
        range,
        init,
        expectedPeers: 3,
        datadir: opts.persist ? dirs[i] : null,
        mesh: net.join(NAMES[i], `node${i}`),
        registry: new Registry(),
        log: quiet,
        waitMs: opts.waitMs ?? 10_000,
        tickMs: 50,
      });
      c.svcs[i] = svc;
      return svc;
    },
    close() {
      for (const s of c.svcs) s.stop();
      for (const d of dirs) if (d) Deno.removeSync(d, { recursive: true });
    },
  };
  NAMES.forEach((_, i) => c.start(i));
  return c;
}

const cid = (i: number) => `c${i.toString(16).padStart(12, "0")}`;

Deno.test("300 allocations spread over 3 peers (consensus start, donations) are distinct", async () => {
  const c = cluster("10.44.0.0/23", "consensus=3");
  try {
    // Skewed on purpose: peer 0 gets 200 of them, more than its initial third of 510.
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => {
      const peer = [0, 0, 0, 0, 1, 2][i % 6];
      return call(c.svcs[peer], "POST", `/ip/${cid(i)}?ifname=eth0`);
    }));
    const range = parseCidr("10.44.0.0/23");
    const ips = results.map((r) => {
      assert.equal(r.status, 200, r.text);
      const cidr = parseCidr(r.text.trim());
      assert.equal(cidr.prefix, 23);
      assert.ok(cidrContains(range, cidr.ip));
      return cidr.ip;
    });
    assert.equal(new Set(ips).size, 300);
    // Idempotent: the same key gets the same address.
    const again = await call(c.svcs[0], "POST", `/ip/${cid(0)}?ifname=eth0`);
    assert.equal(again.text, results[0].text);
    const list = JSON.parse((await call(c.svcs[0], "GET", "/ip")).text);
    assert.equal(list.length, 200);
    assert.deepEqual(c.net.errors, []);
  } finally {
    c.close();
  }
});

Deno.test("a dead peer's space is taken over by rmpeer on one survivor and used", async () => {
  const c = cluster("10.45.0.0/24", `seed=${NAMES.join(",")}`);
  try {
    for (let i = 0; i < 30; i++) {
      assert.equal((await call(c.svcs[i % 3], "POST", `/ip/${cid(i)}`)).status, 200);
    }
    const share = c.svcs[0].view()!.peers.find((p) => p.name === NAMES[2])!.owned;
    c.svcs[2].stop();
    c.net.down(NAMES[2]);
    const status = await call(c.svcs[0], "GET", "/status/ipam");
    assert.match(status.text, new RegExp(`${NAMES[2]}\\(node2\\) +\\d+ IPs .*- unreachable!`));
    const live = await call(c.svcs[0], "DELETE", `/peer/${NAMES[1]}`);
    assert.equal(live.status, 409, "rmpeer of a live peer must be refused");
    const rm = await call(c.svcs[0], "DELETE", `/peer/${NAMES[2]}`);
    assert.equal(rm.status, 200, rm.text);
    assert.equal(rm.text.trim(), `${share} IPs taken over from ${NAMES[2]}`);
    await c.net.settle();
    // The two survivors can now use the whole range (254 usable - 20 still held).
    const more = await Promise.all(
      Array.from({ length: 210 }, (_, i) => call(c.svcs[i % 2], "POST", `/ip/${cid(100 + i)}`)),
    );
    for (const r of more) assert.equal(r.status, 200, r.text);
    const held = [
      ...JSON.parse((await call(c.svcs[0], "GET", "/ip")).text),
      ...JSON.parse((await call(c.svcs[1], "GET", "/ip")).text),
    ].map((a) => a.ip);
    assert.equal(new Set(held).size, held.length);
    const lastThird = held.filter((ip) => Number(ip.split("/")[0].split(".")[3]) >= 171);
    assert.ok(lastThird.length > 50, "the dead peer's former space was not used");
  } finally {
    c.close();
  }
});

Deno.test("a peer restarted from its store mid-burst loses and duplicates nothing", async () => {
  const c = cluster("10.46.0.0/23", `seed=${NAMES.join(",")}`, { persist: true });
  try {
    const acked = new Map<string, { peer: number; ip: string }>();
    let failed = 0;
    // Peer 1 gets 3/4 of the burst, more than its third of the range: some of its requests wait
    // for donations, so the crash hits requests in flight.
    const burst = async (from: number, n: number) => {
      await Promise.all(Array.from({ length: n }, async (_, k) => {
        const i = from + k, peer = [0, 1, 1, 1][i % 4], id = cid(i);
        const r = await call(c.svcs[peer], "POST", `/ip/${id}?ifname=eth0`);
        if (r.status === 200) acked.set(id, { peer, ip: r.text.trim() });
        else failed++;
      }));
    };
    const first = burst(0, 300);
    // Crash peer 1 in the middle of the burst, then start it again from its data dir.
    await Promise.resolve();
    const before = c.svcs[1].allocations().length;
    c.svcs[1].stop();
    c.net.down(NAMES[1]);
    await first;
    assert.ok(failed > 0, "no request was in flight at the crash");
    const restarted = c.start(1);
    assert.equal(restarted.ready(), null);
    assert.equal(restarted.allocations().length, before);
    await burst(300, 150);
    await c.net.settle();
    const ips = new Map<string, string>();
    for (const [id, a] of acked) {
      const r = await call(c.svcs[a.peer], "GET", `/ip/${id}?ifname=eth0`);
      assert.equal(r.text.trim(), a.ip, `${id} on peer ${a.peer} lost its address`);
      assert.equal(ips.get(a.ip), undefined, `${a.ip} given to ${ips.get(a.ip)} and ${id}`);
      ips.set(a.ip, id);
    }
    assert.ok(acked.size >= 350, `only ${acked.size} allocations acknowledged`);
    const onDisk = JSON.parse((await call(restarted, "GET", "/ip")).text);
    assert.deepEqual(
      new Set(onDisk.map((a: { id: string }) => a.id)),
      new Set([...acked].filter(([, a]) => a.peer === 1).map(([id]) => id)),
    );
  } finally {
    c.close();
  }
});

Deno.test("requests wait for consensus, then fail with how far it got", async () => {
  const net = new FakeNetwork();
  const registry = new Registry();
  const svc = createIpam({
    range: "10.47.0.0/16",
    init: "consensus=3",
    datadir: null,
    mesh: net.join(NAMES[0]),
    registry,
    log: quiet,
    waitMs: 150,
    tickMs: 50,
  });
  try {
    assert.equal(svc.ready(), "waiting for consensus (known 1 of 2)");
    const t = Date.now();
    const waiting = call(svc, "POST", "/ip/c1");
    const claiming = call(svc, "PUT", "/ip/c2/10.47.0.9/16");
    // Weave's pending gauges count them while they wait.
    assert.match(registry.render(), /^weavets_ipam_pending_allocates 1$/m);
    assert.match(registry.render(), /^weavets_ipam_pending_claims 1$/m);
    const r = await waiting;
    assert.equal((await claiming).status, 503);
    assert.match(registry.render(), /^weavets_ipam_pending_allocates 0$/m);
    assert.ok(Date.now() - t >= 140, "did not wait");
    assert.equal(r.status, 503);
    assert.equal(r.text, "waiting for consensus (known 1 of 2)\n");
    // A second peer makes the quorum: the split is agreed and allocation works.
    const other = createIpam({
      range: "10.47.0.0/16",
      init: "consensus=3",
      datadir: null,
      mesh: net.join(NAMES[1]),
      registry: new Registry(),
      log: quiet,
      waitMs: 5000,
      tickMs: 50,
    });
    const ok = await call(svc, "POST", "/ip/c1");
    assert.equal(ok.status, 200, ok.text);
    other.stop();
  } finally {
    svc.stop();
  }
});

Deno.test("HTTP API: bad input gets a 4xx with a reason and the server keeps serving", async () => {
  const net = new FakeNetwork();
  const registry = new Registry();
  const svc = createIpam({
    range: "10.32.0.0/12",
    init: `seed=${NAMES[0]}`,
    datadir: null,
    mesh: net.join(NAMES[0], "solo"),
    registry,
    log: quiet,
    waitMs: 500,
  });
  const server = startApiServer({ addr: "127.0.0.1:0", routes: ipamRoutes(svc), log: quiet });
  const base = `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`;
  const req = async (method: string, path: string, body?: BodyInit, accept?: string) => {
    const headers: Record<string, string> = accept ? { accept } : {};
    if (body !== undefined) headers["content-type"] = "application/json";
    const r = await fetch(base + path, { method, body, headers });
    return { status: r.status, text: await r.text() };
  };
  try {
    // Weave's answers: 400 with the reason for every refusal (ipam/http.go).
    const bad: Array<[string, string, BodyInit | undefined, number, RegExp]> = [
      ["POST", "/ip/-bad", undefined, 400, /invalid container id/],
      ["POST", "/ip/a%20b", undefined, 400, /invalid container id/],
      ["POST", "/ip/%zz", undefined, 400, /invalid container id/],
      ["DELETE", "/peer/%zz", undefined, 400, /invalid peer name/],
      ["POST", `/ip/${"x".repeat(300)}`, undefined, 400, /invalid container id/],
      ["POST", "/ip/c1?ifname=toolonginterfacename", undefined, 400, /invalid interface name/],
      ["POST", "/ip/c1/192.168.0.0/24", undefined, 400, /not inside the IP range 10\.32\.0\.0\/12/],
      ["POST", "/ip/c1/10.32.0.0/99", undefined, 400, /invalid CIDR/],
      ["POST", "/ip/c1/10.32.0.0/8", undefined, 400, /not inside the IP range/],
      [
        "PUT",
        "/ip/c1/10.99.0.1/12",
        undefined,
        400,
        /^Unable to claim: .*outside 10\.32\.0\.0\/12/,
      ],
      ["PUT", "/ip/c1/10.32.0.0/12", undefined, 400, /network or broadcast/],
      ["PUT", "/ip/c1/not-an-ip/12", undefined, 400, /^Unable to claim: invalid IPv4/],
      ["GET", "/ip/nosuch", undefined, 404, /no addresses for container nosuch/],
      ["DELETE", "/ip/nosuch", undefined, 400, /^Delete: no addresses for nosuch$/],
      [
        "DELETE",
        "/ip/nosuch/10.32.0.9",
        undefined,
        400,
        /^Unable to free: Free: address 10\.32\.0\.9 not found for nosuch$/,
      ],
      ["DELETE", "/ip/nosuch/10.32.0", undefined, 400, /invalid IPv4/],
      ["POST", "/ipam/gc", "{not json", 400, /body must be JSON/],
      ["POST", "/ipam/gc", '{"ids": [42]}', 400, /body must be JSON/],
      ["POST", "/ipam/gc", "x".repeat(2 * 1024 * 1024), 413, /exceeds/],
      ["DELETE", `/peer/${NAMES[0]}`, undefined, 409, /refusing to remove this peer itself/],
      ["DELETE", "/peer/nobody", undefined, 404, /no peer named nobody/],
      ["GET", "/ip/c1/extra/parts/here", undefined, 404, /no such endpoint/],
      ["GET", "/nonsense", undefined, 404, /no such endpoint/],
    ];
    for (const [method, path, body, status, reason] of bad) {
      const r = await req(method, path, body);
      assert.equal(r.status, status, `${method} ${path.slice(0, 40)}: ${r.status} ${r.text}`);
      assert.match(r.text.trim(), reason, `${method} ${path.slice(0, 40)}`);
      assert.equal(r.text.trim().split("\n").length, 1, "the reason is one line");
    }
    // Still serving: allocate, claim, look up, GC, release, with Weave's bodies (no newline).
    const a = await req("POST", "/ip/c1?ifname=eth0");
    assert.equal(a.status, 200);
    assert.match(a.text, /^10\.32\.0\.\d+\/12$/);
    const claim = await req("PUT", "/ip/c2/10.32.5.5/12");
    assert.deepEqual(claim, { status: 204, text: "" }, "a claim answers 204 without a body");
    const taken = await req("PUT", "/ip/c3/10.32.5.5/12");
    assert.equal(taken.status, 400);
    assert.match(taken.text, /^Unable to claim: 10\.32\.5\.5 is already allocated to container c2/);
    assert.equal((await req("PUT", "/ip/c2/10.32.5.5/12")).status, 204, "a repeated claim is fine");
    // A subnet request answers with the subnet's prefix (Weave: /24 for a /24).
    const sub = await req("POST", "/ip/c4/10.33.1.0/24");
    assert.match(sub.text, /^10\.33\.1\.\d+\/24$/);
    assert.equal((await req("POST", "/ip/c4/10.33.1.0/24")).text, sub.text, "idempotent");
    const second = await req("POST", "/ip/c1?ifname=net1");
    assert.equal((await req("GET", "/ip/c1?ifname=eth0")).text, a.text);
    // Every address of a container, space-separated; within a subnet with its prefix.
    assert.equal((await req("GET", "/ip/c1")).text, `${a.text} ${second.text}`);
    assert.equal((await req("GET", `/ip/c4/10.33.1.0/24`)).text, sub.text);
    assert.equal((await req("GET", `/ip/c4/10.34.0.0/16`)).status, 404);
    // One address of a container (Weave's DELETE /ip/{id}/{ip}).
    const secondIp = second.text.split("/")[0];
    assert.equal((await req("DELETE", `/ip/c1/${secondIp}`)).status, 204);
    assert.equal((await req("GET", "/ip/c1")).text, a.text);
    const gc = await req("POST", "/ipam/gc", JSON.stringify({ ids: ["c2", "c4"] }));
    assert.deepEqual(JSON.parse(gc.text).released.map((x: { id: string }) => x.id), ["c1"]);
    assert.equal((await req("DELETE", "/ip/c2")).status, 204);
    assert.equal((await req("DELETE", "/ip/never-allocated?ifname=eth0")).status, 204);
    assert.deepEqual(await req("GET", "/ipinfo/defaultsubnet"), {
      status: 200,
      text: "10.32.0.0/12",
    });
    const st = await req("GET", "/status/ipam");
    assert.match(st.text, /Range: 10\.32\.0\.0\/12/);
    assert.match(
      st.text,
      /0a:00:00:00:00:01\(solo\) +1048576 IPs \(100\.0% of total\) \(1 active\)/,
    );
    const js = JSON.parse((await req("GET", "/status/ipam", undefined, "application/json")).text);
    assert.equal(js.allocated, 1);
    const m = registry.render();
    assert.match(m, /^weavets_ips 1$/m);
    assert.match(m, /^weavets_max_ips 1048576$/m);
    assert.match(m, /^weavets_ipam_unreachable_percentage 0$/m);
    assert.match(m, /^weavets_ipam_unreachable_count 0$/m);
    assert.match(m, /^weavets_ipam_pending_allocates 0$/m);
    assert.match(m, /^weavets_ipam_pending_claims 0$/m);
  } finally {
    await server.shutdown();
    svc.stop();
  }
});

Deno.test("each peer's owned ranges (for NO_MASQ_LOCAL) hold exactly its own allocations", async () => {
  const c = cluster("10.46.0.0/24", `seed=${NAMES.join(",")}`);
  try {
    const toNum = (ip: string) => ip.split(".").reduce((n, o) => n * 256 + Number(o), 0);
    for (let i = 0; i < 30; i++) {
      const r = await call(c.svcs[i % 3], "POST", `/ip/${cid(i)}`);
      const ip = toNum(r.text.trim().split("/")[0]);
      const inRange = (svc: IpamService) =>
        svc.ownedRanges().some((x) => {
          const [a, b] = x.split("-").map(toNum);
          return a <= ip && ip <= b;
        });
      assert.ok(inRange(c.svcs[i % 3]), `${r.text} in its peer's ranges`);
      assert.ok(!inRange(c.svcs[(i + 1) % 3]), `${r.text} not in another peer's`);
    }
    const sizes = c.svcs.map((s) =>
      s.ownedRanges().reduce((n, x) => {
        const [a, b] = x.split("-").map(toNum);
        return n + b - a + 1;
      }, 0)
    );
    assert.equal(sizes.reduce((a, b) => a + b), 256, "the ranges cover the whole range once");
  } finally {
    c.close();
  }
});
