/**
 * IPAM across three daemon processes on loopback (no root): a SIGKILL in the middle of an
 * allocation burst loses and duplicates nothing, and after another node is killed, rmpeer on a
 * survivor takes over its space and allocation continues from it.
 */
import { describeCause } from "../../net/cause.ts";
import assert from "node:assert/strict";
import { run as rmpeer } from "../../cli/rmpeer.ts";

const NAMES = ["0f:10:00:00:00:01", "0f:10:00:00:00:02", "0f:10:00:00:00:03"];
const RANGE = "10.54.0.0/23";
const HELPER = new URL("./ipam_daemon.ts", import.meta.url).pathname;

interface Proc {
  child: Deno.ChildProcess;
  http: number;
  mesh: number;
}

async function spawn(i: number, dir: string, peers: string[]): Promise<Proc> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", HELPER, NAMES[i], dir, `seed=${NAMES.join(",")}`, RANGE, ...peers],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`daemon ${i} exited before listening`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  const { http, mesh } = JSON.parse(text.split("\n")[0]);
  return { child, http, mesh };
}

async function kill9(p: Proc) {
  try {
    p.child.kill("SIGKILL");
  } catch {
    // already gone
  }
  await p.child.status;
}

async function call(p: Proc, method: string, path: string) {
  try {
    const r = await fetch(`http://127.0.0.1:${p.http}${path}`, { method });
    return { status: r.status, text: (await r.text()).trim() };
  } catch (e) {
    return { status: 0, text: describeCause(e) };
  }
}

Deno.test("IPAM daemons: kill -9 mid-burst loses nothing; rmpeer takes a dead node's space", async () => {
  const dirs = NAMES.map(() => Deno.makeTempDirSync({ prefix: "wti-ipamp-" }));
  const procs: Proc[] = [];
  try {
    procs.push(await spawn(0, dirs[0], []));
    const seed = `127.0.0.1:${procs[0].mesh}`;
    procs.push(await spawn(1, dirs[1], [seed]), await spawn(2, dirs[2], [seed]));

    const acked = new Map<string, { node: number; ip: string }>();
    const burst = (from: number, n: number) =>
      Promise.all(Array.from({ length: n }, async (_, k) => {
        const i = from + k, node = i % 3;
        const r = await call(procs[node], "POST", `/ip/pod${i}?ifname=eth0`);
        if (r.status === 200) acked.set(`pod${i}`, { node, ip: r.text });
      }));
    const first = burst(0, 240);
    while (acked.size < 60) await new Promise((r) => setTimeout(r, 1));
    const ackedAtKill = acked.size; // counted when the signal goes, not once the process is gone
    await kill9(procs[1]); // in the middle of the burst
    await first;
    procs[1] = await spawn(1, dirs[1], [seed]);
    await burst(240, 120);
    const seen = new Map<string, string>();
    for (const [id, a] of acked) {
      const r = await call(procs[a.node], "GET", `/ip/${id}?ifname=eth0`);
      assert.equal(r.text, a.ip, `${id} on node ${a.node}`);
      assert.equal(seen.get(a.ip), undefined, `${a.ip} given twice`);
      seen.set(a.ip, id);
    }
    assert.ok(ackedAtKill < 240, "the burst was over before the kill");
    assert.ok(acked.size >= 250, `only ${acked.size} acknowledged`);

    // Node 2 dies for good; rmpeer on node 0, then allocate into its former space.
    await kill9(procs[2]);
    const deadline = Date.now() + 8_000;
    while (!(await call(procs[0], "GET", "/status/ipam")).text.includes("unreachable!")) {
      assert.ok(Date.now() < deadline, "node 2 never became unreachable");
      await new Promise((r) => setTimeout(r, 50));
    }
    const [log] = [console.log];
    const out: string[] = [];
    console.log = (s: string) => out.push(s);
    try {
      assert.equal(await rmpeer(["--http-addr", `127.0.0.1:${procs[0].http}`, NAMES[2]]), 0);
    } finally {
      console.log = log;
    }
    assert.match(out.join(""), /^171 IPs taken over from 0f:10:00:00:00:03$/);
    const more = await Promise.all(
      Array.from({ length: 100 }, (_, i) => call(procs[i % 2], "POST", `/ip/late${i}`)),
    );
    for (const r of more) assert.equal(r.status, 200, r.text);
    const live = [...acked.values()].filter((a) => a.node !== 2).map((a) => a.ip);
    const all = [...live, ...more.map((r) => r.text)];
    assert.equal(new Set(all).size, all.length, "a survivor's address was handed out twice");
    // Node 2's share was 10.54.1.85 - 10.54.1.255.
    const inFormer = more.filter((r) => {
      const [, , c, d] = r.text.split(/[./]/).map(Number);
      return c === 1 && d >= 85;
    });
    assert.ok(inFormer.length > 0, "nothing was allocated from the dead node's former space");
  } finally {
    for (const p of procs) await kill9(p);
    for (const d of dirs) Deno.removeSync(d, { recursive: true });
  }
});
