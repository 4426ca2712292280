/**
 * Only root changes IPAM (issue 13), against the real API server, IPAM and kernel lookup: a daemon
 * (tests/ipam/ipam_daemon.ts) in a node namespace, its API called as root and as uid `nobody`
 * from inside that namespace. Every refused call is first shown to work as root (the negative
 * control); read-only status still answers everyone. Then the same over a Unix socket, which
 * `nobody` cannot even open, and `weavets rmpeer` / `status` as root through it.
 */
import assert from "node:assert/strict";
import { denoRun, runWeavets } from "../harness/binary.ts";
import { IS_ROOT, withNamespaces } from "../harness/netns.ts";

const NAME = "0f:20:00:00:00:01";
const RANGE = "10.55.0.0/24";
const NOBODY = 65534;

/** The requests a client makes, and what each answered (status, body), as JSON lines. */
const CLIENT = `
const [base, socket, json] = Deno.args;
const client = socket ? Deno.createHttpClient({ proxy: { transport: "unix", path: socket } }) : undefined;
for (const [method, path, type, body] of JSON.parse(json)) {
  try {
    const headers = type ? { "content-type": type } : {};
    const r = await fetch(base + path, { method, headers, body: body ?? undefined, client });
    console.log(JSON.stringify([r.status, (await r.text()).trim()]));
  } catch (e) {
    console.log(JSON.stringify([0, String(e.cause?.message ?? e.message ?? e).slice(0, 200)]));
  }
}
`;

type Req = [method: string, path: string, type?: string, body?: string];

interface Env {
  netns: string;
  dir: string;
  client: string;
}

/** Runs the requests from inside `netns` as `uid`; returns [status, body] per request. */
function callAs(env: Env, uid: number, base: string, socket: string, reqs: Req[]) {
  const drop = uid === 0 ? [] : ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups"];
  const out = new Deno.Command("ip", {
    args: [
      ...["netns", "exec", env.netns, ...drop, Deno.execPath(), "run"],
      ...["--allow-net", "--allow-read", "--allow-write", env.client],
      ...[base, socket, JSON.stringify(reqs)],
    ],
    env: { DENO_DIR: `${env.dir}/deno`, HOME: `${env.dir}/home`, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) throw new Error(`client failed: ${new TextDecoder().decode(out.stderr)}`);
  return text.trim().split("\n").map((l) => JSON.parse(l) as [number, string]);
}

async function startDaemon(netns: string, datadir: string, httpAddr: string) {
  const [cmd, ...args] = denoRun(
    "tests/ipam/ipam_daemon.ts",
    NAME,
    datadir,
    `seed=${NAME}`,
    RANGE,
  );
  const child = new Deno.Command("ip", {
    args: ["netns", "exec", netns, cmd, ...args],
    env: { IPAM_HTTP_ADDR: httpAddr },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the IPAM daemon exited before listening");
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  return { child, http: JSON.parse(text.split("\n")[0]).http as number | string };
}

async function stop(child: Deno.ChildProcess) {
  try {
    child.kill("SIGTERM");
  } catch {
    // already gone
  }
  await child.status;
}

function scratch(): Env & { cleanup(): void } {
  const dir = Deno.makeTempDirSync({ prefix: "wti-access-" });
  Deno.chmodSync(dir, 0o755);
  for (const d of ["deno", "home"]) {
    Deno.mkdirSync(`${dir}/${d}`);
    Deno.chownSync(`${dir}/${d}`, NOBODY, NOBODY);
  }
  Deno.writeTextFileSync(`${dir}/client.ts`, CLIENT, { mode: 0o644 });
  return {
    netns: "",
    dir,
    client: `${dir}/client.ts`,
    cleanup: () => Deno.removeSync(dir, { recursive: true }),
  };
}

Deno.test({
  name: "only root changes IPAM over loopback TCP; status stays readable for everyone",
  ignore: !IS_ROOT,
  fn: () =>
    withNamespaces("wtia", async (ns) => {
      const env = { ...scratch(), netns: ns.add("node") };
      const d = await startDaemon(env.netns, `${env.dir}/data`, "127.0.0.1:0");
      try {
        const base = `http://127.0.0.1:${d.http}`;
        const root = (reqs: Req[]) => callAs(env, 0, base, "", reqs);
        const nobody = (reqs: Req[]) => callAs(env, NOBODY, base, "", reqs);
        assert.equal(root([["POST", "/ip/live-pod?ifname=eth0"]])[0][0], 200);
        const held = root([["GET", "/ip"]])[0][1];

        const changes: Req[] = [
          ["DELETE", "/ip/live-pod?ifname=eth0"],
          ["DELETE", "/ip/live-pod"],
          ["POST", "/ipam/gc", "application/json", '{"ids":[]}'],
          ["POST", "/ip/attacker"],
          ["POST", "/ip/attacker/10.55.0.128/25"],
          ["PUT", "/ip/attacker/10.55.0.77/24"],
          ["DELETE", "/peer/0f:20:00:00:00:99"],
          ["GET", "/ip"],
          ["GET", "/ip/live-pod"],
        ];
        for (const [i, [status, body]] of nobody(changes).entries()) {
          assert.equal(status, 403, `${changes[i].slice(0, 2).join(" ")} as nobody: ${body}`);
          assert.match(body, /allowed only for root on this node \(the caller is uid 65534\)/);
        }
        // The browser-style GC of the review (text/plain) is refused for anyone.
        const plainGc: Req = ["POST", "/ipam/gc", "text/plain", '{"ids":[]}'];
        assert.equal(nobody([plainGc])[0][0], 415);
        assert.equal(root([plainGc])[0][0], 415);
        assert.equal(root([["GET", "/ip"]])[0][1], held, "nobody changed nothing");

        // Read-only status for everyone.
        for (const path of ["/status/ipam", "/metrics", "/status", "/ipinfo/defaultsubnet"]) {
          const [[status]] = nobody([["GET", path]]);
          assert.ok(status === 200 || status === 503, `GET ${path} as nobody: ${status}`);
        }

        // Negative control: the same calls as root do what they say.
        const asRoot = root([
          ["POST", "/ip/attacker"],
          ["PUT", "/ip/claimer/10.55.0.77/24"],
          ["GET", "/ip/live-pod"],
          ["POST", "/ipam/gc", "application/json", '{"ids":["live-pod"]}'],
          ["DELETE", "/peer/0f:20:00:00:00:99"],
          ["DELETE", "/ip/live-pod"],
        ]);
        assert.deepEqual(asRoot.map(([s]) => s), [200, 204, 200, 200, 404, 204]);
        assert.deepEqual(
          JSON.parse(asRoot[3][1]).released.map((a: { id: string }) => a.id).sort(),
          ["attacker", "claimer"],
        );
      } finally {
        await stop(d.child);
        env.cleanup();
      }
    }),
});

Deno.test({
  name: "a Unix-socket API: root uses it (weavets rmpeer and status too); nobody cannot open it",
  ignore: !IS_ROOT,
  fn: () =>
    withNamespaces("wtia", async (ns) => {
      const env = { ...scratch(), netns: ns.add("node") };
      const socket = `${env.dir}/run/weave.sock`;
      const d = await startDaemon(env.netns, `${env.dir}/data`, socket);
      try {
        assert.equal(d.http, socket);
        const st = Deno.lstatSync(socket);
        assert.ok(st.isSocket && (st.mode! & 0o777) === 0o600 && st.uid === 0);
        const req: Req[] = [["POST", "/ip/pod1"], ["GET", "/ip/pod1"]];
        const [alloc, lookup] = callAs(env, 0, "http://weavets", socket, req);
        assert.equal(alloc[0], 200);
        assert.deepEqual(lookup, [200, alloc[1]]);
        const [[status, why]] = callAs(env, NOBODY, "http://weavets", socket, req);
        assert.equal(status, 0, `nobody reached the socket: ${status}`);
        assert.match(why, /Permission denied|permission/i);

        const rm = await runWeavets(["rmpeer", "--http-addr", socket, "0f:20:00:00:00:99"], {
          netns: env.netns,
        });
        assert.equal(rm.code, 1);
        assert.match(rm.stderr, /no peer named 0f:20:00:00:00:99 is known to IPAM/);
        const status2 = await runWeavets(["status", "ipam", "--http-addr", socket], {
          netns: env.netns,
        });
        assert.equal(status2.code, 0, status2.stderr);
        assert.match(status2.stdout, /Allocated here: 1/);
      } finally {
        await stop(d.child);
        env.cleanup();
      }
    }),
});
