/**
 * TEST DOUBLE — not the weavets daemon. A minimal in-memory stand-in for the daemon's
 * Weave-compatible IPAM/status HTTP API, so the plugin's daemon mode can be tested before (and
 * independently of) net/ipam. Run inside a node namespace:
 *   deno run -A tests/cni/fake_daemon.ts <port> <subnet>     (prints "ready" when listening)
 * Test-only controls: POST /fake/ready?ready=0|1, POST /fake/peers (JSON body), GET /fake/state.
 */
import { formatIPv4, networkOf, parseCidr } from "../../net/addr/mod.ts";

const [portArg, subnetArg] = Deno.args;
const subnet = parseCidr(subnetArg ?? "10.32.0.0/12");
const base = networkOf(subnet);
/** key "id ifname" → address index in the subnet */
const allocs = new Map<string, number>();
const gcCalls: unknown[] = [];
let ready = true;
let peers: unknown = [{ name: "self", reachable: true, connections: [] }];

function key(id: string, url: URL): string {
  return `${id} ${url.searchParams.get("ifname") ?? ""}`;
}
function cidrOf(n: number): string {
  return `${formatIPv4(base + n)}/${subnet.prefix}`;
}
function text(body: string, status = 200): Response {
  return new Response(body + "\n", { status });
}

function handle(req: Request): Response | Promise<Response> {
  const url = new URL(req.url);
  const parts = url.pathname.split("/").filter((p) => p !== "").map(decodeURIComponent);
  const m = req.method;
  if (parts[0] === "ip" && parts.length >= 2) {
    const k = key(parts[1], url);
    if (m === "POST" && parts.length === 2) {
      let n = allocs.get(k);
      if (n === undefined) {
        const used = new Set(allocs.values());
        for (n = 1; used.has(n); n++);
        allocs.set(k, n);
      }
      return text(cidrOf(n));
    }
    if (m === "PUT" && parts.length === 4) {
      const want = parseCidr(`${parts[2]}/${parts[3]}`).ip - base;
      for (const [other, n] of allocs) {
        if (n === want && other !== k) return text(`address ${parts[2]} is already owned`, 409);
      }
      allocs.set(k, want);
      return new Response(null, { status: 204 });
    }
    if (m === "GET") {
      const n = allocs.get(k);
      return n === undefined ? text(`no addresses for ${parts[1]}`, 404) : text(cidrOf(n));
    }
    if (m === "DELETE") {
      return allocs.delete(k) ? new Response(null, { status: 204 }) : text("no addresses", 404);
    }
  }
  if (m === "GET" && url.pathname === "/ipinfo/defaultsubnet") return text(subnetArg);
  if (m === "POST" && url.pathname === "/ipam/gc") {
    // The daemon's body (net/ipam/service.ts): {"ids": [id | {id, ifname}, ...]}.
    return req.json().then((body: { ids: (string | { id: string; ifname: string })[] }) => {
      gcCalls.push(body);
      const live = new Set(body.ids.map((x) => typeof x === "string" ? x : `${x.id} ${x.ifname}`));
      for (const k of [...allocs.keys()]) {
        if (!live.has(k) && !live.has(k.split(" ")[0])) allocs.delete(k);
      }
      return new Response(null, { status: 204 });
    });
  }
  if (m === "GET" && url.pathname === "/status") {
    // The daemon's JSON shape (net/daemon): { ready, reason, ... }, 503 when not ready.
    return ready
      ? Response.json({ ready: true, reason: null })
      : Response.json({ ready: false, reason: "awaiting consensus (quorum: 2, known: 1)" }, {
        status: 503,
      });
  }
  if (m === "GET" && url.pathname === "/status/peers") return Response.json(peers);
  if (m === "POST" && url.pathname === "/fake/ready") {
    ready = url.searchParams.get("ready") === "1";
    return text("ok");
  }
  if (m === "POST" && url.pathname === "/fake/peers") {
    return req.json().then((p) => {
      peers = p;
      return text("ok");
    });
  }
  if (m === "GET" && url.pathname === "/fake/state") {
    return Response.json({
      allocations: Object.fromEntries([...allocs].map(([k, n]) => [k, cidrOf(n)])),
      gcCalls,
    });
  }
  return text(`no route ${m} ${url.pathname}`, 404);
}

Deno.serve({
  hostname: "127.0.0.1",
  port: Number(portArg),
  onListen: () => console.log("ready"),
}, handle);
