/**
 * Helpers for the CNI end-to-end tests: run the real weavets binary as a runtime does (stripped
 * environment, CNI_* variables, config on stdin) inside a test "node" namespace, and start the
 * daemon core with the real IPAM service in that namespace.
 */
import { denoRun, REPO_ROOT, runWeavets, weavetsBin } from "../harness/binary.ts";
import { ipJson, readUntil, sh, shTry } from "../harness/sh.ts";

export const PLUGIN_DIRS = "/usr/lib/cni:/opt/cni/bin";
export const HAS_HOST_LOCAL = (() => {
  try {
    return Deno.statSync("/usr/lib/cni/host-local").isFile;
  } catch {
    return false;
  }
})();

export interface CniCall {
  node: string;
  conf: Record<string, unknown>;
  containerId?: string;
  netns?: string;
  ifname?: string;
  args?: string;
  extraEnv?: Record<string, string>;
}

export interface CniOutcome {
  code: number;
  json: Record<string, unknown>;
  stdout: string;
  stderr: string;
}

/** Runs `weavets` (no arguments: CNI mode by CNI_COMMAND) in the node namespace. */
export function cni(command: string, c: CniCall): Promise<CniOutcome> {
  return cniWith(undefined, command, c, PLUGIN_DIRS);
}

async function cniWith(
  bin: string | undefined,
  command: string,
  c: CniCall,
  path: string,
): Promise<CniOutcome> {
  const env: Record<string, string> = {
    PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
    CNI_COMMAND: command,
    CNI_PATH: path,
    ...(c.containerId ? { CNI_CONTAINERID: c.containerId } : {}),
    ...(c.netns !== undefined ? { CNI_NETNS: c.netns } : {}),
    ...(c.ifname !== undefined ? { CNI_IFNAME: c.ifname } : {}),
    ...(c.args ? { CNI_ARGS: c.args } : {}),
    ...c.extraEnv,
  };
  const r = await runWeavets([], {
    env,
    clearEnv: true,
    stdin: JSON.stringify(c.conf),
    netns: c.node,
    bin,
  });
  let json: Record<string, unknown> = {};
  if (r.stdout.trim()) json = JSON.parse(r.stdout);
  return { code: r.code, json, stdout: r.stdout, stderr: r.stderr };
}

/** A host-local ipam section with its own data directory (so tests never share state). */
export function hostLocal(subnet: string, dataDir: string): Record<string, unknown> {
  return { type: "host-local", dataDir, ranges: [[{ subnet }]] };
}

export interface IpLink {
  ifname: string;
  ifindex: number;
  master?: string;
  mtu: number;
  address: string;
  operstate: string;
  link_netnsid?: number;
}

export interface IpAddr {
  ifname: string;
  addr_info: { family: string; local: string; prefixlen: number }[];
}

export interface IpRoute {
  dst: string;
  gateway?: string;
  dev: string;
}

export function links(netns: string): Promise<IpLink[]> {
  return ipJson<IpLink[]>(netns, "link", "show");
}

export async function ipv4Of(netns: string, dev: string): Promise<string[]> {
  const a = await ipJson<IpAddr[]>(netns, "-4", "addr", "show", "dev", dev);
  return a.flatMap((x) => x.addr_info.map((i) => `${i.local}/${i.prefixlen}`));
}

export function routes(netns: string): Promise<IpRoute[]> {
  return ipJson<IpRoute[]>(netns, "-4", "route", "show");
}

/** Host-side veths the plugin made, in the node namespace. */
export async function hostVeths(node: string): Promise<string[]> {
  return (await links(node)).map((l) => l.ifname).filter((n) => n.startsWith("vethwepl"));
}

/**
 * Starts a repo script with this Deno inside `node` and waits until its stdout shows `marker`;
 * returns the process and what it printed so far (the rest of stdout is discarded).
 */
async function startInNode(
  node: string,
  script: string,
  args: string[],
  marker: string,
): Promise<{ child: Deno.ChildProcess; seen: string }> {
  const child = new Deno.Command("ip", {
    args: ["netns", "exec", node, ...denoRun(script, ...args)],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const seen = await readUntil(reader, marker, script);
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  return { child, seen };
}

/** An HTTP request made from inside a namespace (with Deno's fetch: no curl needed). */
export async function httpInNetns(
  netns: string,
  method: string,
  url: string,
  body?: string,
): Promise<string> {
  const init = JSON.stringify({ method, body, signal: undefined });
  const r = await shTry("ip", [
    "netns",
    "exec",
    netns,
    Deno.execPath(),
    "eval",
    `const r = await fetch(${JSON.stringify(url)}, { ...${init}, ` +
    `signal: AbortSignal.timeout(5000) }); console.log(await r.text());`,
  ]);
  if (r.code !== 0) throw new Error(`${method} ${url} from ${netns} failed: ${r.stderr}`);
  return r.stdout;
}

/** Deletes a namespace by name when it still exists (for tests that delete pods themselves). */
export async function deleteNetnsIfPresent(name: string): Promise<void> {
  await shTry("ip", ["netns", "delete", name]);
}

export { sh };

/**
 * The daemon core with only the real IPAM service (net/ipam), single peer, inside `node`, through
 * tests/ipam/ipam_daemon.ts. Deliberately not `weavets daemon`: without the `cni` component no
 * daemon serves the node's CNI socket, so the plugin runs every command itself — this is the
 * plugin's own path against the real IPAM API. The daemon-served path is tests/e2e/cni_daemon_test.ts.
 */
export class IpamDaemon {
  #child: Deno.ChildProcess | undefined;
  port = 0;
  readonly datadir = Deno.makeTempDirSync({ prefix: "wtc-ipamd-" });
  static readonly NAME = "0a:00:00:00:00:01";
  /**
   * `init`: IPAM's --ipalloc-init (default: this peer alone decides, so it is ready at once;
   * "consensus=2" without peers keeps it waiting: not ready). `peers`: mesh addresses it dials.
   */
  constructor(
    readonly node: string,
    readonly range: string,
    readonly opts: { init?: string; peers?: string[] } = {},
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const name = IpamDaemon.NAME;
    const { child, seen } = await startInNode(this.node, "tests/ipam/ipam_daemon.ts", [
      name,
      this.datadir,
      this.opts.init ?? `seed=${name}`,
      this.range,
      ...(this.opts.peers ?? []),
    ], "\n");
    this.#child = child;
    this.port = JSON.parse(seen.split("\n")[0]).http;
  }

  /** A request to the daemon's HTTP API from inside the node. */
  request(method: string, path: string): Promise<string> {
    return httpInNetns(this.node, method, `http://${this.address}${path}`);
  }

  /** Every allocation the daemon holds, as "id ifname=ip". */
  async allocations(): Promise<string[]> {
    const list = JSON.parse(await httpInNetns(this.node, "GET", `http://${this.address}/ip`));
    return (list as { id: string; ifname: string; ip: string }[])
      .map((a) => `${a.id} ${a.ifname}=${a.ip}`).sort();
  }

  /** Stops it (its state stays for a restart unless `remove`). */
  async stop(remove = true): Promise<void> {
    if (this.#child) {
      try {
        this.#child.kill("SIGTERM");
      } catch {
        // already gone
      }
      await this.#child.status;
      this.#child = undefined;
    }
    if (remove) Deno.removeSync(this.datadir, { recursive: true });
  }
}

/**
 * The plugin under another name in a directory of its own (for CNI_PATH), as the init container
 * installs it for Weave Net's configs: a hard link (a copy across file systems), so the plugin
 * sees the name it is exec'd by. Returns the directory; remove it when done.
 *
 * install.sh's launcher (no denort: CI's case) finds its runtime relative to itself
 * (`lib=${self%/*}/../lib/weavets`), so a link in another directory would exec a runtime that is
 * not there (exit 127). Like install.sh and install-cni.sh do for the copies they place, the
 * launcher is written with its `lib=` resolved against the original's directory.
 */
export function pluginNamed(...names: string[]): string {
  const dir = `${REPO_ROOT}/.tmp/wtc-names-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  Deno.mkdirSync(dir, { recursive: true });
  const bin = weavetsBin();
  const launcher = relocatedLauncher(bin);
  for (const name of names) {
    if (launcher !== undefined) {
      Deno.writeTextFileSync(`${dir}/${name}`, launcher, { mode: 0o755 });
      continue;
    }
    try {
      Deno.linkSync(bin, `${dir}/${name}`);
    } catch {
      Deno.copyFileSync(bin, `${dir}/${name}`);
    }
  }
  return dir;
}

/**
 * The text of `bin` with a relative `lib=${self%/*}…` line made absolute when `bin` is a launcher
 * script with one; undefined for a compiled binary or a launcher that names absolute paths.
 */
export function relocatedLauncher(bin: string): string | undefined {
  const head = new Uint8Array(2);
  const f = Deno.openSync(bin);
  try {
    if (f.readSync(head) !== 2 || head[0] !== 0x23 || head[1] !== 0x21) return undefined; // "#!"
  } finally {
    f.close();
  }
  const text = Deno.readTextFileSync(bin);
  const home = Deno.realPathSync(bin).replace(/\/[^/]*$/, "");
  const out = text.replace(
    /^lib=\$\{self%\/\*\}(.*)$/m,
    (_m, rest: string) => `lib='${home}${rest}'`,
  );
  return out === text ? undefined : out;
}

/** Runs any CNI plugin binary in the node namespace as a runtime does. */
export async function execPlugin(
  bin: string,
  command: string,
  c: CniCall & { path: string },
): Promise<CniOutcome> {
  return await cniWith(bin, command, c, c.path);
}
