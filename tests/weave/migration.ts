/**
 * Two simulated Weave Net nodes on one underlay, and the docs/MIGRATING.md procedure run on them
 * node by node, for tests/weave/migrate_test.ts and bench/weave_switch.ts: each node a namespace
 * with eth0 on a shared underlay bridge, Weave's state (sim.ts) with its pods, then per node:
 * install weavets' conflist (what the install-cni init container does), `weavets reset --weave`
 * (the reset-weave init container), and the daemon (the weavets container).
 */
import { weavetsBin } from "../harness/binary.ts";
import { addUnderlay, joinUnderlay } from "../harness/links.ts";
import { Namespaces } from "../harness/netns.ts";
import { shTry } from "../harness/sh.ts";
import { simulateWeave, type WeavePod } from "./sim.ts";

export const underlayIp = (i: number) => `192.168.76.${i + 1}`;
export const peerName = (i: number) => `02:77:76:00:00:0${i + 1}`;
/** Weave's expose address and pods per node, as Weave's split would have put them. */
export const WEAVE_NODES = [
  { bridge: "10.32.0.1/12", pods: ["10.32.0.2", "10.32.0.3"] },
  { bridge: "10.40.0.1/12", pods: ["10.40.0.2"] },
];

export const STRAY_POD = "10.40.0.200";

export interface Node {
  ns: string;
  confDir: string;
  datadir: string;
  pods: WeavePod[];
  daemon?: Deno.ChildProcess;
  log: string[];
}

export class WeaveCluster {
  readonly ns: Namespaces;
  readonly nodes: Node[] = [];
  readonly tmp = Deno.makeTempDirSync({ prefix: "wtmig-" });

  constructor(prefix: string) {
    this.ns = new Namespaces(prefix);
  }

  /**
   * `stray`: node 0 also has a pod whose address (STRAY_POD) lies in the half of the range the
   * new consensus gives node 1, as a pod that Weave placed with space donated by another peer.
   */
  static async build(prefix: string, opts: { stray?: boolean } = {}): Promise<WeaveCluster> {
    const c = new WeaveCluster(prefix);
    try {
      const u = await addUnderlay(c.ns);
      for (const [i, w] of WEAVE_NODES.entries()) {
        const n = c.ns.add(`n${i}`);
        await joinUnderlay(u, n, i, `${underlayIp(i)}/24`);
        const confDir = `${c.tmp}/n${i}/net.d`;
        const pods = await simulateWeave(n, {
          confDir,
          bridgeCidr: w.bridge,
          pods: [...w.pods, ...(opts.stray && i === 0 ? [STRAY_POD] : [])]
            .map((ip) => ({ ns: c.ns.add(`p${i}`), ip })),
        });
        c.nodes.push({ ns: n, confDir, datadir: `${c.tmp}/n${i}/data`, pods, log: [] });
      }
      return c;
    } catch (e) {
      await c.stop();
      throw e;
    }
  }

  /** The first two steps on node i: our conflist installed, Weave's leftovers removed. */
  async switchNode(i: number): Promise<{ code: number; out: string }> {
    const n = this.nodes[i];
    Deno.writeTextFileSync(
      `${n.confDir}/10-weavets.conflist`,
      Deno.readTextFileSync(new URL("../../deploy/cni/10-weavets.conflist", import.meta.url)),
    );
    const r = await shTry("ip", [
      "netns",
      "exec",
      n.ns,
      weavetsBin(),
      "reset",
      "--weave",
      `--cni-conf-dir=${n.confDir}`,
    ]);
    return { code: r.code, out: r.stdout + r.stderr };
  }

  /** Starts node i's daemon; resolves when it logged "started" (or rejects with its log). */
  async startDaemon(i: number): Promise<void> {
    const n = this.nodes[i];
    const others = this.nodes.map((_, k) => underlayIp(k)).filter((_, k) => k !== i);
    const child = new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        n.ns,
        weavetsBin(),
        "daemon",
        `--name=${peerName(i)}`,
        `--nickname=n${i}`,
        `--host=${underlayIp(i)}`,
        `--datadir=${n.datadir}`,
        `--ipalloc-init=consensus=${this.nodes.length}`,
        ...others,
      ],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    n.daemon = child;
    n.log = [];
    const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    const started = (async () => {
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`node ${i} daemon exited:\n${n.log.join("\n")}`);
        buf += value;
        const lines = buf.split("\n");
        buf = lines.pop()!;
        n.log.push(...lines);
        if (lines.some((l) => l.includes('"msg":"started"'))) break;
      }
      // Keep draining its log.
      (async () => {
        for (;;) {
          const { value, done } = await reader.read().catch(() => ({ value: "", done: true }));
          if (done) return;
          n.log.push(...value.split("\n").filter((l) => l));
        }
      })();
    })();
    const timeout = new Promise<never>((_, rej) =>
      setTimeout(() => rej(new Error(`node ${i} daemon not started in 60 s`)), 60_000)
    );
    await Promise.race([started, timeout]);
  }

  async stopDaemon(i: number): Promise<void> {
    const d = this.nodes[i].daemon;
    if (!d) return;
    this.nodes[i].daemon = undefined;
    try {
      d.kill("SIGTERM");
    } catch {
      // gone already
    }
    const t = setTimeout(() => d.kill("SIGKILL"), 10_000);
    await d.status;
    clearTimeout(t);
  }

  /** GET on node i's API (as root, over TCP on loopback). */
  async api(i: number, path: string, method = "GET"): Promise<{ code: number; body: string }> {
    const r = await shTry("ip", [
      "netns",
      "exec",
      this.nodes[i].ns,
      "curl",
      "-s",
      "-X",
      method,
      "-w",
      "\n%{http_code}",
      `http://127.0.0.1:6784${path}`,
    ]);
    const lines = r.stdout.split("\n");
    return { code: Number(lines.pop()), body: lines.join("\n") };
  }

  /** Waits until node i's /status is 200 (ready: consensus, bridge, claims). */
  async waitReady(i: number, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = { code: 0, body: "" };
    while (Date.now() < deadline) {
      last = await this.api(i, "/status");
      if (last.code === 200) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(
      `node ${i} not ready: ${last.code} ${last.body}\n${this.nodes[i].log.join("\n")}`,
    );
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((_, i) => this.stopDaemon(i)));
    this.ns.cleanup();
    Deno.removeSync(this.tmp, { recursive: true });
  }
}

/** One ping from namespace `from` to `ip`. */
export async function pingFrom(from: string, ip: string, waitS = 1): Promise<boolean> {
  const r = await shTry("ip", [
    "netns",
    "exec",
    from,
    "busybox",
    "ping",
    "-c",
    "1",
    "-W",
    `${waitS}`,
    ip,
  ]);
  return r.code === 0;
}
