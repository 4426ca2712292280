/**
 * Issue 17, "Weave's documented settings crash the pod": the daemon started (as root, in a
 * throwaway network namespace) with Weave Net 2.8.1's own launch.sh command line and the settings
 * the issue lists — EXTRA_ARGS with --log-level=debug, --trusted-subnets, --no-discovery,
 * --ipalloc-default-subnet; CONN_LIMIT=0, NO_MASQ_LOCAL=yes, IPALLOC_INIT=consensus=0, a Unix
 * socket WEAVE_HTTP_ADDR, HOSTNAME, WEAVE_STATUS_ADDR — runs, becomes ready, honours them, warns
 * once per Docker-only flag, and stops cleanly on SIGTERM.
 */
import assert from "node:assert/strict";
import { weavetsBin } from "../harness/binary.ts";
import { IS_ROOT, withNamespaces } from "../harness/netns.ts";

async function get(sock: string, path: string, init: RequestInit = {}) {
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: sock } });
  try {
    const r = await fetch(`http://weavets${path}`, { ...init, client });
    return { status: r.status, text: await r.text() };
  } finally {
    client.close();
  }
}

Deno.test({
  name: "Weave settings: launch.sh's command line and the issue's settings run a ready daemon",
  ignore: !IS_ROOT,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withNamespaces("wtcfg", async (ns) => {
      const node = ns.add("node");
      // An underlay: an address and a default route (the daemon derives its own from them).
      const ipn = (...a: string[]) => new Deno.Command("ip", { args: ["-n", node, ...a] }).output();
      await ipn("link", "add", "u0", "type", "veth", "peer", "name", "u1");
      await ipn("addr", "add", "192.168.77.1/24", "dev", "u0");
      await ipn("link", "set", "u0", "up");
      await ipn("link", "set", "u1", "up");
      await ipn("route", "add", "default", "via", "192.168.77.2", "dev", "u0");
      const tmp = Deno.makeTempDirSync({ prefix: "wtcfg-" });
      const sock = `${tmp}/run/weave.sock`;
      const extraArgs = [
        "--log-level=debug",
        "--trusted-subnets=192.168.0.0/16,10.1.2.3/8",
        "--no-discovery",
        "--ipalloc-default-subnet=10.32.4.0/24",
      ];
      // weave:prog/weave-kube/launch.sh's last line, with its variables filled in.
      const launch = [
        ...extraArgs,
        "--port=6783",
        "--datapath=datapath",
        `--http-addr=${sock}`,
        "--metrics-addr=127.0.0.1:6782",
        "--docker-api=",
        "--no-dns",
        "--db-prefix=/weavedb/weave-net",
        "--ipalloc-range=10.32.0.0/12",
        "--nickname=node-a",
        "--ipalloc-init",
        "consensus=0",
        "--conn-limit=0",
        "--expect-npc",
        "--no-masq-local",
      ];
      const child = new Deno.Command("ip", {
        args: ["netns", "exec", node, weavetsBin(), "daemon", `--datadir=${tmp}/data`, ...launch],
        env: {
          CONN_LIMIT: "0",
          NO_MASQ_LOCAL: "yes",
          IPALLOC_INIT: "consensus=0",
          HOSTNAME: "node-a",
          WEAVE_STATUS_ADDR: "127.0.0.1:6785",
        },
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const logs: string[] = [];
      const reading = (async () => {
        const dec = new TextDecoder();
        for await (const chunk of child.stderr) logs.push(dec.decode(chunk));
      })();
      try {
        let status = { status: 0, text: "" };
        const end = Date.now() + 60_000;
        for (;;) {
          try {
            status = await get(sock, "/status");
            if (status.status === 200) break;
          } catch {
            // not listening yet
          }
          const exited = await Promise.race([
            child.status.then(() => true),
            new Promise<boolean>((r) => setTimeout(() => r(false), 200)),
          ]);
          assert.ok(!exited, `the daemon exited:\n${logs.join("")}`);
          assert.ok(Date.now() < end, `not ready in 60 s: ${status.text}\n${logs.join("")}`);
        }
        assert.match(status.text, /PeerDiscovery: disabled/);
        assert.match(status.text, /TrustedSubnets: 192\.168\.0\.0\/16, 10\.0\.0\.0\/8/);
        assert.match(status.text, /ConnLimit: 0/);
        assert.match(status.text, /Name: [0-9a-f:]{17}\(node-a\)/);
        assert.deepEqual(await get(sock, "/ipinfo/defaultsubnet"), {
          status: 200,
          text: "10.32.4.0/24",
        });
        const ip = await get(sock, "/ip/c0ffee", { method: "POST" });
        assert.match(ip.text, /^10\.32\.4\.\d+\/24$/, "allocated in the default subnet");
        // `weave connect` over the Unix socket; a refused dial is a debug line (--log-level).
        const connect = await get(sock, "/connect", {
          method: "POST",
          body: "peer=127.0.0.1:1",
          headers: { "content-type": "application/x-www-form-urlencoded" },
        });
        assert.deepEqual(connect, { status: 200, text: "" });
        const until = Date.now() + 10_000;
        while (!logs.join("").includes('"msg":"dial failed"') && Date.now() < until) {
          await new Promise((r) => setTimeout(r, 100));
        }
        // Mutations stay root-only: uid nobody cannot reach the socket at all, and the status
        // address has no /connect (the root call above is the control).
        const asNobody = (...a: string[]) =>
          new Deno.Command("ip", {
            args: ["netns", "exec", node, "setpriv", "--reuid=65534", "--regid=65534"]
              .concat(["--clear-groups", "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}"], a),
            stdout: "piped",
            stderr: "null",
          }).output();
        const viaSocket = await asNobody(
          "--unix-socket",
          sock,
          "-d",
          "peer=10.9.9.9",
          "http://x/connect",
        );
        assert.notEqual(viaSocket.code, 0, "nobody cannot open the API socket");
        const viaStatusAddr = await asNobody(
          "-d",
          "peer=10.9.9.9",
          "http://127.0.0.1:6785/connect",
        );
        assert.equal(new TextDecoder().decode(viaStatusAddr.stdout), "404");
        assert.doesNotMatch((await get(sock, "/status/targets")).text, /10\.9\.9\.9/);
        // WEAVE_STATUS_ADDR: read-only status inside the node's namespace.
        const viaStatus = await new Deno.Command("ip", {
          args: ["netns", "exec", node, "curl", "-s", "http://127.0.0.1:6785/status/targets"],
        }).output();
        assert.equal(viaStatus.code, 0, "the status address answers");
      } finally {
        try {
          child.kill("SIGTERM");
        } catch {
          // already exited: the assertions below show why
        }
        const s = await child.status;
        await reading;
        Deno.removeSync(tmp, { recursive: true });
        const text = logs.join("");
        assert.equal(s.code, 0, `exit on SIGTERM:\n${text}`);
        for (const flag of ["--datapath", "--docker-api", "--no-dns", "--db-prefix"]) {
          const n = text.split(`${flag} (Weave Net) ignored`).length - 1;
          assert.equal(n, 1, `one warning for ${flag}`);
        }
        assert.match(text, /"level":"debug"/, "--log-level=debug: debug lines are logged");
        assert.match(text, /NetworkPolicies are enforced only with --kube/);
      }
    }),
});
