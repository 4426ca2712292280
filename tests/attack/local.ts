/**
 * Issue 13, a local user (`nobody`) on a node (run by password_holder_test.ts on its cluster): every mutating IPAM/peer API call is refused, the
 * CNI node lock cannot be taken (or holding it does not stall ADD), and the password is in neither
 * `ps` nor the environment of the daemon or its children.
 * Negative controls: root does the same through the product's own clients (the CNI plugin, the
 * rmpeer CLI) and it works; the lock test runs where the lock dir is 0755, as the manifest's
 * hostPath creates it, and shows the lock is in use; the environment scan finds a variable it
 * was given.
 */
import assert from "node:assert/strict";
import { Cluster } from "../../cli/demo/cluster.ts";
import { execIn } from "../../cli/demo/exec.ts";
import { SHIPPED_CONFLIST } from "../e2e/e2e.ts";
import { curl, daemonPid, NOBODY, storedAllocations } from "./attacker.ts";
import { attackStep } from "./pending.ts";

type Node = Cluster["nodes"][number];
const API = "http://127.0.0.1:6784";

/**
 * Every Unix socket under /run/weavets that belongs to `node` (named after its network
 * namespace's inode, as the CNI socket is): an API moved there must refuse nobody too. Other
 * clusters' sockets are never touched.
 */
function sockets(node: Node, dir = "/run/weavets"): string[] {
  const ino = Deno.statSync(node.netns).ino;
  const out: string[] = [];
  try {
    for (const e of Deno.readDirSync(dir)) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory) out.push(...sockets(node, p));
      else if (e.name.includes(`-${ino}.`) && Deno.statSync(p).isSocket) out.push(p);
    }
  } catch {
    // not there, or gone meanwhile
  }
  return out;
}

async function asNobody(node: Node, method: string, path: string, body?: string, type?: string) {
  const calls = [
    await curl(node, method, `${API}${path}`, { uid: NOBODY, body, contentType: type }),
  ];
  for (const unix of sockets(node)) {
    calls.push(
      await curl(node, method, `http://localhost${path}`, {
        uid: NOBODY,
        body,
        contentType: type,
        unix,
      }),
    );
  }
  return calls.map((r) => r.status);
}

const accepted = (codes: number[]) => codes.filter((s) => s >= 200 && s < 300);

/**
 * The password as the daemon takes it outside Kubernetes, `--password-file` (the manifest has the
 * daemon read it from a Secret through the API: in no env value and on no command line either),
 * and wrappers first in PATH for the tools the daemon runs (nft, ip …) that record each child's
 * environment in `dir` before they exec the real tool. `args` for the daemons, `setup` before
 * they start (withCluster's hook), `restore` right after, `cleanup` at the end.
 */
export async function passwordFile(password: string) {
  const dir = await Deno.makeTempDir({ prefix: "wtatk-path-" });
  const file = `${dir}/password`;
  await Deno.writeTextFile(file, password, { mode: 0o600 });
  const path0 = Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin";
  for (const tool of ["nft", "ip", "tc", "iptables"]) {
    const real = path0.split(":").map((d) => `${d}/${tool}`).find((p) => {
      try {
        return Deno.statSync(p).isFile;
      } catch {
        return false;
      }
    });
    if (!real) continue;
    await Deno.writeTextFile(
      `${dir}/${tool}`,
      `#!/bin/sh\ntr '\\0' '\\n' </proc/$$/environ >"${dir}/env.${tool}.$$"\n` +
        `exec ${real} "$@"\n`,
      { mode: 0o755 },
    );
  }
  const restore = () => Deno.env.set("PATH", path0);
  return {
    dir,
    args: ["--password-file", file],
    setup: () => {
      Deno.env.set("PATH", `${dir}:${path0}`);
      return Promise.resolve();
    },
    restore,
    async cleanup() {
      restore();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/**
 * The local-user steps, on a cluster whose daemons got `password` from a file (`passwordFile`,
 * whose `dir` holds the children's environments) and a pod on node 1.
 * The last step stops node 3's daemon.
 */
export async function localSteps(
  t: Deno.TestContext,
  c: Cluster,
  password: string,
  wrapDir: string,
) {
  const [n1, , n3] = c.nodes;
  const pod = c.pods.find((p) => p.node === n1)!;
  await attackStep(
    t,
    "password-hidden",
    "the password is in neither ps (as nobody) nor " +
      "/proc/<pid>/environ of the daemon or its children",
    async () => {
      const status = await c.cli(n1, ["status"]);
      assert.match(status.stdout, /encrypted/i, "the password is in effect");
      const ps = await execIn(null, "setpriv", [
        `--reuid=${NOBODY}`,
        `--regid=${NOBODY}`,
        "--clear-groups",
        "ps",
        "-eo",
        "pid,args",
      ]);
      assert.equal(ps.code, 0, ps.stderr);
      const found: string[] = [];
      for (const l of ps.stdout.split("\n")) if (l.includes(password)) found.push(`ps: ${l}`);
      const env = Deno.readTextFileSync(`/proc/${daemonPid(n1)}/environ`);
      assert.ok(env.includes("WEAVETS_LOG_LEVEL"), "the scan reads the daemon's environment");
      if (env.includes(password)) found.push("the daemon's /proc/<pid>/environ");
      const children = [...Deno.readDirSync(wrapDir)].filter((e) => e.name.startsWith("env."));
      console.log(`  children's environments recorded: ${children.length}`);
      assert.ok(
        children.length > 0,
        "the daemons ran children (nft) whose environment we saw",
      );
      for (const e of children) {
        const text = Deno.readTextFileSync(`${wrapDir}/${e.name}`);
        if (text.includes(password)) found.push(`the environment of child ${e.name}`);
      }
      assert.deepEqual(found, [], "where the password showed");
    },
  );

  await attackStep(
    t,
    "cni-lock",
    "with the lock dir 0755 (the manifest's hostPath), " +
      "nobody cannot take cni.lock, or holding it does not stall ADD",
    async () => {
      const r = await lockScenario(c, n1);
      console.log(`  ${r.trim().split("\n").join("; ")}`);
      const v = Object.fromEntries(r.trim().split("\n").map((l) => l.split("=")));
      assert.equal(v.add1, "0", `the first ADD (the control) worked: ${r}`);
      assert.ok(v.lockmode, "the plugin created the lock file");
      const stalled = Number(v.add2ms) > 3000;
      assert.ok(
        v.nobodyopen !== "0" || !stalled,
        `nobody took the lock (file mode ${v.lockmode}) and ADD waited ${v.add2ms} ms`,
      );
    },
  );

  // Last: it stops n3's daemon.
  await attackStep(
    t,
    "nobody-api",
    "as nobody: DELETE /ip/<live>, POST /ip, POST " +
      "/ipam/gc (text/plain and JSON), rmpeer are refused and change nothing",
    async () => {
      const before = { api: await c.allocations(n1), store: storedAllocations(n1) };
      const tries = {
        "DELETE /ip/<live pod>": await asNobody(n1, "DELETE", `/ip/${pod.containerId}`),
        "POST /ip/<new>": await asNobody(n1, "POST", "/ip/wtatk-nobody"),
        "POST /ipam/gc text/plain": await asNobody(
          n1,
          "POST",
          "/ipam/gc",
          '{"ids":[]}',
          "text/plain",
        ),
        "POST /ipam/gc JSON": await asNobody(
          n1,
          "POST",
          "/ipam/gc",
          '{"ids":[]}',
          "application/json",
        ),
      };
      console.log(`  as nobody: ${JSON.stringify(tries)}`);
      const allowed = Object.entries(tries).filter(([, codes]) => accepted(codes).length);
      const after = { api: await c.allocations(n1), store: storedAllocations(n1) };
      assert.deepEqual(allowed, [], "calls accepted for nobody");
      assert.deepEqual(after, before, "allocations after nobody's calls");
      // rmpeer of a peer that is really gone: nobody refused, root (the CLI) accepted.
      await c.stopDaemon(n3, "SIGTERM");
      const n3name = Cluster.peerName(n3.index);
      await Cluster.waitFor("n3 unreachable on n1", async () => {
        const r = await curl(n1, "GET", `${API}/status/peers`);
        return (JSON.parse(r.body) as Array<{ name: string; reachable: boolean }>)
          .some((p) => p.name === n3name && !p.reachable);
      }, 30_000);
      const rm = await asNobody(n1, "DELETE", `/peer/${n3name}`);
      console.log(`  rmpeer as nobody: ${rm}`);
      assert.deepEqual(accepted(rm), [], "rmpeer was accepted for nobody");
      const root = await c.cli(n1, ["rmpeer", n3name]);
      assert.equal(root.code, 0, `root's rmpeer (the control): ${root.stderr}`);
    },
  );
}

/**
 * In a private mount namespace of node `n`, /run/weavets is a fresh 0755 tmpfs (what the
 * manifest's hostPath DirectoryOrCreate gives; the host's own lock is never touched): the plugin
 * finds no daemon socket there and runs ADD itself, under the node lock. Then nobody tries to hold
 * that lock while a second ADD runs. Prints key=value lines.
 */
async function lockScenario(c: Cluster, n: Node): Promise<string> {
  const pods = [`${n.name}-lk1`, `${n.name}-lk2`];
  const conf = JSON.stringify({
    ...SHIPPED_CONFLIST.plugins[0],
    cniVersion: SHIPPED_CONFLIST.cniVersion,
    name: SHIPPED_CONFLIST.name,
  });
  const add = (i: number) =>
    `env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CNI_COMMAND=ADD ` +
    `CNI_CONTAINERID=wtatk-lock-${i}-${n.name} CNI_NETNS=/run/netns/${pods[i]} CNI_IFNAME=eth0 ` +
    `CNI_PATH=/opt/cni/bin '${c.spec.bin}' <"$CONF" >/dev/null 2>"$T/err${i}"`;
  const script = [
    "T=$(mktemp -d)",
    'CONF="$T/conf"',
    `printf '%s' '${conf}' >"$CONF"`,
    "mount -t tmpfs -o mode=0755 wtatk-run /run/weavets",
    add(0),
    "echo add1=$?",
    "echo lockmode=$(stat -c %a /run/weavets/cni.lock 2>/dev/null)",
    `setpriv --reuid=${NOBODY} --regid=${NOBODY} --clear-groups ` +
    "flock -n -x /run/weavets/cni.lock true 2>/dev/null; echo nobodyopen=$?",
    `setpriv --reuid=${NOBODY} --regid=${NOBODY} --clear-groups ` +
    "flock -x /run/weavets/cni.lock sleep 6 2>/dev/null & HOLD=$!",
    "sleep 0.5",
    "t0=$(date +%s%N)",
    add(1),
    "echo add2=$?",
    "echo add2ms=$(( ($(date +%s%N) - t0) / 1000000 ))",
    "wait $HOLD 2>/dev/null",
    'rm -rf "$T"',
  ].join("\n");
  for (const p of pods) {
    const r = await execIn(null, "ip", ["netns", "add", p]);
    assert.equal(r.code, 0, r.stderr);
  }
  try {
    const r = await execIn(null, "ip", [
      "netns",
      "exec",
      n.name,
      "unshare",
      "-m",
      "--propagation",
      "private",
      "sh",
      "-c",
      script,
    ], { timeoutMs: 120_000 });
    return r.stdout + (r.code !== 0 ? `exit=${r.code}\nstderr=${r.stderr}` : "");
  } finally {
    for (const p of pods) await execIn(null, "ip", ["netns", "delete", p]);
  }
}
