/**
 * A throwaway cluster for data-plane root tests: an underlay namespace with a bridge, N node
 * namespaces on it each running node_driver.ts (the real data-plane component behind a stdio
 * mesh whose gossip this harness relays), and pod namespaces attached to each node's bridge.
 */
import { createHash } from "node:crypto";
import { addUnderlay, addVeth, joinUnderlay } from "../harness/links.ts";
import { Namespaces } from "../harness/netns.ts";
import { sh, shTry } from "../harness/sh.ts";
import { encodeBase64 } from "./base64.ts";
import type { DriverConfig } from "./driver_config.ts";
import { jsonLines, lines } from "./json_lines.ts";

const DRIVER = new URL("./node_driver.ts", import.meta.url).pathname;
const DAEMON_DRIVER = new URL("./daemon_driver.ts", import.meta.url).pathname;
export const NET_TOOL = new URL("./net_tool.ts", import.meta.url).pathname;
export const POD_CIDR = "10.32.0.0/12";

export interface ClusterOptions {
  nodes: number;
  podsPerNode: number;
  fastdp: boolean;
  password?: string;
  /** Masquerade traffic leaving POD_CIDR, and give pods a default route via their bridge. */
  masquerade?: boolean;
  /** Run the real daemon (mesh over TCP) with the data-plane component instead of the stdio mesh. */
  daemon?: boolean;
  /** Weave's --trusted-subnets for every node (the real daemon only: the stand-in has no trust). */
  trustedSubnets?: string[];
  /** Netns name prefix (default "wtd"). */
  prefix?: string;
  /**
   * Node pairs that cannot reach each other on the underlay: nft in both node namespaces drops
   * everything between their addresses (set before any daemon starts). A partial mesh needs the
   * real daemon (`daemon: true`): the stdio stand-in's mesh has no routes.
   */
  cut?: [number, number][];
  /** Node i's Workers run under fault_worker.ts, watching `${faultDir}/n${i}` (driver_config.ts). */
  faultDir?: string;
  /**
   * Run the drivers (and so the product) from this checkout of the repository instead of this
   * one: bench/dataplane.ts compares with an earlier commit this way.
   */
  root?: string;
}

export interface Pod {
  ns: string;
  node: number;
  ip: string;
  mac: string;
}

interface Driver {
  child: Deno.ChildProcess;
  writer: WritableStreamDefaultWriter<Uint8Array>;
  waiting: ((m: Record<string, unknown>) => void)[];
  log: string[];
  done: Promise<void>;
}

const enc = new TextEncoder();
/** A node's view of its data path to one peer (data-plane status). */
export interface PathView {
  peer: string;
  path: string;
  reason: string;
  reasonKind: string;
}

export const peerName = (i: number) => `02:77:00:00:00:${(i + 1).toString(16).padStart(2, "0")}`;
export const underlayIp = (i: number) => `192.168.77.${i + 1}`;

/**
 * Test double for a control connection's data key between nodes i and k (node_driver.ts):
 * deterministic from the password, the pair and how often each end has started, so both ends get
 * the same key and a restart of either end gives a new one, as a real reconnection does.
 */
export function testDataKey(
  password: string,
  i: number,
  k: number,
  starts: number[],
): { id: string; secret: string } {
  const [lo, hi] = i < k ? [i, k] : [k, i];
  const h = (label: string) =>
    createHash("sha256").update(`${label}\0${password}\0${lo}.${starts[lo]}-${hi}.${starts[hi]}`)
      .digest();
  return {
    id: encodeBase64(h("test key id").subarray(0, 8)),
    secret: encodeBase64(h("test secret")),
  };
}

export class Cluster {
  readonly ns: Namespaces;
  underlay = "";
  nodes: string[] = [];
  pods: Pod[] = [];
  mtu = 0;
  readonly drivers: (Driver | undefined)[] = [];
  /** How often each node's driver was started (testDataKey). */
  readonly starts: number[] = [];

  constructor(readonly opts: ClusterOptions, prefix = "wtd") {
    this.ns = new Namespaces(prefix);
  }

  static async start(opts: ClusterOptions): Promise<Cluster> {
    const c = new Cluster(opts, opts.prefix);
    try {
      await c.#build();
      return c;
    } catch (e) {
      await c.stop();
      throw e;
    }
  }

  async #build(): Promise<void> {
    this.underlay = await addUnderlay(this.ns);
    for (let i = 0; i < this.opts.nodes; i++) {
      const n = this.ns.add(`n${i}`);
      this.nodes.push(n);
      await joinUnderlay(this.underlay, n, i, `${underlayIp(i)}/24`);
    }
    for (const [i, k] of this.opts.cut ?? []) {
      for (const [n, other] of [[i, k], [k, i]]) {
        const nft = (...rule: string[]) => sh("ip", "netns", "exec", this.nodes[n], "nft", ...rule);
        await nft("add", "table", "ip", "wtcut");
        for (const [hook, dir] of [["input", "saddr"], ["output", "daddr"]]) {
          await nft(`add chain ip wtcut ${hook} { type filter hook ${hook} priority 0 ; }`);
          await nft(`add rule ip wtcut ${hook} ip ${dir} ${underlayIp(other)} drop`);
        }
      }
    }
    await Promise.all(this.nodes.map((_, i) => this.startDriver(i)));
    this.setPeers();
    for (let i = 0; i < this.opts.nodes; i++) {
      for (let j = 0; j < this.opts.podsPerNode; j++) await this.#addPod(i, j);
    }
  }

  #driver(): string {
    const own = this.opts.daemon ? DAEMON_DRIVER : DRIVER;
    const root = this.opts.root;
    return root ? `${root}/tests/dataplane/${own.slice(own.lastIndexOf("/") + 1)}` : own;
  }

  /** Starts node i's driver; resolves when its data plane is up. */
  async startDriver(i: number): Promise<void> {
    this.starts[i] = (this.starts[i] ?? 0) + 1;
    const cfg: DriverConfig = {
      self: peerName(i),
      fastdp: this.opts.fastdp,
      password: this.opts.password,
      bridgeCidr: `10.32.${i + 1}.1/12`,
      underlayAddr: underlayIp(i),
      podCidr: this.opts.masquerade ? POD_CIDR : undefined,
      adoptGraceMs: 2000,
      trustedSubnets: this.opts.trustedSubnets,
      faultDir: this.opts.faultDir && `${this.opts.faultDir}/n${i}`,
      peers: this.opts.daemon
        ? Array.from({ length: this.opts.nodes }, (_, k) => underlayIp(k)).filter((_, k) => k !== i)
        : undefined,
    };
    const child = new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        this.nodes[i],
        Deno.execPath(),
        "run",
        "-A",
        this.#driver(),
        JSON.stringify(cfg),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const d: Driver = {
      child,
      writer: child.stdin.getWriter(),
      waiting: [],
      log: [],
      done: Promise.resolve(),
    };
    this.drivers[i] = d;
    d.done = Promise.all([
      (async () => {
        for await (const m of jsonLines(child.stdout)) {
          if (m.t === "broadcast") {
            for (let k = 0; k < this.drivers.length; k++) {
              if (k !== i) this.send(k, { t: "gossip", from: peerName(i), data: m.data });
            }
          } else d.waiting.shift()?.(m);
        }
      })(),
      (async () => {
        for await (const l of lines(child.stderr)) d.log.push(l);
      })(),
    ]).then(() => {});
    const ready = await this.#next(i, 60_000);
    if (ready.t !== "ready") throw new Error(`node ${i} driver: ${JSON.stringify(ready)}`);
    this.mtu = (ready.status as { mtu: { mtu: number } }).mtu.mtu;
  }

  #next(i: number, timeoutMs = 10_000): Promise<Record<string, unknown>> {
    const d = this.drivers[i]!;
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`node ${i} driver silent; its log:\n${d.log.join("\n")}`)),
        timeoutMs,
      );
      d.waiting.push((m) => {
        clearTimeout(t);
        resolve(m);
      });
      d.done.then(() => {
        clearTimeout(t);
        reject(new Error(`node ${i} driver exited; its log:\n${d.log.join("\n")}`));
      });
    });
  }

  send(i: number, msg: unknown): void {
    this.drivers[i]?.writer.write(enc.encode(JSON.stringify(msg) + "\n")).catch(() => {});
  }

  /**
   * Every node sees every running node as reachable (with a password: and holds a data key for
   * it); all exchange full state (as on connect).
   */
  setPeers(): void {
    const peers = this.drivers.map((d, k) => ({
      name: peerName(k),
      nickname: `n${k}`,
      reachable: d !== undefined,
    }));
    const pw = this.opts.password;
    for (let i = 0; i < this.drivers.length; i++) {
      const keys = pw === undefined ? undefined : Object.fromEntries(
        this.drivers.flatMap((d, k) =>
          d && k !== i ? [[peerName(k), testDataKey(pw, i, k, this.starts)]] : []
        ),
      );
      this.send(i, { t: "peers", peers, keys });
    }
    for (let i = 0; i < this.drivers.length; i++) this.send(i, { t: "sync" });
  }

  async status(i: number): Promise<Record<string, unknown>> {
    const p = this.#next(i);
    this.send(i, { t: "status" });
    return (await p).status as Record<string, unknown>;
  }

  /** Node `node`'s view of its data path to node `peer` (its status' entry for that peer). */
  async pathTo(node: number, peer: number): Promise<PathView | undefined> {
    return ((await this.status(node)).peers as PathView[]).find((x) => x.peer === peerName(peer));
  }

  async #addPod(i: number, j: number): Promise<void> {
    const ns = this.ns.add(`p${i}${j}`);
    const port = `vp${i}${j}`;
    await addVeth(
      { name: "eth0", netns: ns, mtu: this.mtu },
      { name: port, netns: this.nodes[i], mtu: this.mtu },
    );
    await sh("ip", "-n", this.nodes[i], "link", "set", port, "master", "weave", "up");
    const ip = `10.32.${i + 1}.${j + 10}`;
    await sh("ip", "-n", ns, "addr", "add", `${ip}/12`, "dev", "eth0");
    await sh("ip", "-n", ns, "link", "set", "eth0", "up");
    await sh("ip", "-n", ns, "route", "add", "224.0.0.0/4", "dev", "eth0");
    if (this.opts.masquerade) {
      await sh("ip", "-n", ns, "route", "add", "default", "via", `10.32.${i + 1}.1`);
    }
    const link = JSON.parse(await sh("ip", "-n", ns, "-j", "link", "show", "eth0"))[0];
    this.pods.push({ ns, node: i, ip, mac: link.address });
  }

  /** SIGKILL node i's driver (kernel state stays, as after a daemon crash). */
  async kill(i: number): Promise<void> {
    const d = this.drivers[i];
    if (!d) return;
    d.child.kill("SIGKILL");
    await d.child.status;
    await d.done.catch(() => {});
    this.drivers[i] = undefined;
  }

  async stop(): Promise<void> {
    await Promise.all(this.drivers.map(async (d, i) => {
      if (!d) return;
      const t = setTimeout(() => d.child.kill("SIGKILL"), 5000);
      this.send(i, { t: "stop" });
      await d.writer.close().catch(() => {});
      await d.child.status;
      clearTimeout(t);
      await d.done.catch(() => {});
    }));
    this.drivers.length = 0;
    this.ns.cleanup();
  }

  driverLog(i: number): string {
    return this.drivers[i]?.log.join("\n") ?? "";
  }
}

/** One ping from pod a to pod b (busybox, which CI installs). */
export async function ping(a: Pod, b: Pod, count = 1): Promise<boolean> {
  const r = await shTry("ip", [
    "netns",
    "exec",
    a.ns,
    "busybox",
    "ping",
    "-c",
    `${count}`,
    "-W",
    "2",
    b.ip,
  ]);
  return r.code === 0;
}

/** Runs net_tool.ts inside a pod namespace. */
export function tool(pod: Pod, ...args: string[]): Deno.ChildProcess {
  return new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      pod.ns,
      Deno.execPath(),
      "run",
      "-A",
      "--unstable-net",
      NET_TOOL,
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** The first stdout line of a running tool (e.g. "listening"). */
export async function firstLine(
  child: Deno.ChildProcess,
): Promise<{ line: string; rest: ReadableStreamDefaultReader<Uint8Array> }> {
  const reader = child.stdout.getReader();
  const dec = new TextDecoder();
  let buf = "";
  while (!buf.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value);
  }
  return { line: buf.split("\n")[0], rest: reader };
}

/** Pod `a` sends `marker` `times` times over TCP to a sink on pod `b`:`port` (2,000: 42 kB). */
export async function sendMarker(
  a: Pod,
  b: Pod,
  port: string,
  marker: string,
  times = 2000,
): Promise<void> {
  const sink = tool(b, "sink", port);
  if ((await firstLine(sink)).line !== "listening") throw new Error("the sink did not listen");
  const t = await tool(a, "text", b.ip, port, marker, `${times}`).output();
  if (!t.success) throw new Error(`text to ${b.ip}:${port}: ${new TextDecoder().decode(t.stderr)}`);
  await sink.status;
}
