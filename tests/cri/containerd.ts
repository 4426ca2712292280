/**
 * A private containerd (Debian's 1.6) for one test node: started by the test inside the node's
 * network namespace, with its own config, root, state, sockets and runc root, the CRI plugin
 * pointed at a CNI bin and conf dir the test controls, pod netns mounts under its state dir, and
 * the sandbox image imported from a local archive. Everything it leaves (shims, pause processes,
 * mounts, files) is removed by `destroy()`, found through its own state dir only.
 */
import { spawnIn } from "../../cli/demo/exec.ts";
import { sh, shTry } from "../harness/sh.ts";
import { CriClient } from "./cri_client.ts";
import { PAUSE_IMAGE } from "./pause_image.ts";

export interface ContainerdSpec {
  /** Short unique directory for sockets and state, e.g. /run/wtcri1a2b3c-n1 (sockets ≤ 108 B). */
  dir: string;
  /** The node's network namespace path; containerd and every plugin it runs live there. */
  netns: string;
  cniBinDir: string;
  cniConfDir: string;
}

export class Containerd {
  readonly socket: string;
  readonly logFile: string;
  readonly stateDir: string;
  readonly netnsDir: string;
  #child: Deno.ChildProcess | undefined;
  #cri: CriClient | undefined;

  constructor(readonly spec: ContainerdSpec) {
    this.socket = `${spec.dir}/c.sock`;
    this.logFile = `${spec.dir}/containerd.log`;
    this.stateDir = `${spec.dir}/state`;
    this.netnsDir = `${this.stateDir}/io.containerd.grpc.v1.cri/netns`;
    Deno.mkdirSync(spec.dir, { recursive: true });
    Deno.writeTextFileSync(`${spec.dir}/config.toml`, this.#config());
  }

  #config(): string {
    const d = this.spec.dir;
    const cri = `plugins."io.containerd.grpc.v1.cri"`;
    return [
      "version = 2",
      `root = "${d}/root"`,
      `state = "${this.stateDir}"`,
      // Snapshotters this host cannot use, and the plugin that would create /opt/containerd.
      `disabled_plugins = ["io.containerd.snapshotter.v1.aufs", ` +
      `"io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", ` +
      `"io.containerd.snapshotter.v1.zfs", "io.containerd.internal.v1.opt", ` +
      `"io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]`,
      "[grpc]",
      `  address = "${this.socket}"`,
      "[ttrpc]",
      `  address = "${this.socket}.ttrpc"`,
      "[metrics]",
      '  address = ""',
      `[${cri}]`,
      `  sandbox_image = "${PAUSE_IMAGE}"`,
      // Pod netns mounts in our own dir, not the host's /run/netns.
      "  netns_mounts_under_state_dir = true",
      // Root here lacks CAP_SYS_RESOURCE: no lowering of OOM scores.
      "  restrict_oom_score_adj = true",
      "  disable_apparmor = true",
      '  stream_server_address = "127.0.0.1"',
      '  stream_server_port = "0"',
      `[${cri}.cni]`,
      `  bin_dir = "${this.spec.cniBinDir}"`,
      `  conf_dir = "${this.spec.cniConfDir}"`,
      "  max_conf_num = 1",
      `[${cri}.containerd]`,
      '  snapshotter = "native"',
      '  default_runtime_name = "runc"',
      `[${cri}.containerd.runtimes.runc]`,
      '  runtime_type = "io.containerd.runc.v2"',
      `[${cri}.containerd.runtimes.runc.options]`,
      "  SystemdCgroup = false",
      `  Root = "${d}/runc"`,
      "",
    ].join("\n");
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get cri(): CriClient {
    return (this.#cri ??= new CriClient(this.socket));
  }

  /** Starts containerd and waits until its CRI service answers. */
  async start(timeoutMs = 30_000): Promise<void> {
    if (this.#child) throw new Error("containerd is already running");
    this.#child = spawnIn(this.spec.netns, "/bin/sh", [
      "-c",
      'log=$1; shift; exec "$@" >>"$log" 2>&1',
      "sh",
      this.logFile,
      "containerd",
      "--config",
      `${this.spec.dir}/config.toml`,
    ], { stdout: "null", stderr: "null" });
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      try {
        await this.cri.version();
        return;
      } catch (e) {
        last = e;
        this.#dropClient();
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`containerd did not answer in ${timeoutMs} ms: ${last}\n${this.logTail()}`);
  }

  /** Stops containerd (SIGTERM, as a service manager does); shims and pods keep running. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    this.#dropClient();
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // exited meanwhile
      }
    }, 10_000);
    await child.status;
    clearTimeout(timer);
  }

  #dropClient(): void {
    this.#cri?.close();
    this.#cri = undefined;
  }

  /** `ctr` against this containerd, in the CRI's namespace. */
  ctr(...args: string[]): Promise<string> {
    return sh("ctr", "--address", this.socket, "--namespace", "k8s.io", ...args);
  }

  async importImage(archive: string): Promise<void> {
    await this.ctr("images", "import", "--snapshotter", "native", archive);
  }

  /** Names of the pod netns mounts containerd holds now. */
  netnsMounts(): string[] {
    const dir = this.netnsDir;
    return mountPoints().filter((m) => m.startsWith(`${dir}/`)).map((m) => m.slice(dir.length + 1));
  }

  logTail(lines = 20): string {
    try {
      return `--- last lines of ${this.logFile} ---\n` +
        Deno.readTextFileSync(this.logFile).trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "";
    }
  }

  /**
   * Removes every sandbox (through CRI while containerd runs), stops containerd, kills what its
   * shims left (pids from its own state dir), unmounts everything under its dir, removes the dir.
   */
  async destroy(): Promise<void> {
    if (this.#child) {
      try {
        for (const s of await this.cri.listPodSandbox()) {
          await this.cri.stopPodSandbox(s.id, 30_000).catch(() => {});
          await this.cri.removePodSandbox(s.id, 30_000).catch(() => {});
        }
      } catch {
        // containerd not answering: the rest still cleans up
      }
      await this.stop();
    }
    const tasks = `${this.stateDir}/io.containerd.runtime.v2.task/k8s.io`;
    for (const id of listDir(tasks)) {
      for (const f of ["init.pid", "shim.pid"]) {
        const pid = Number(readFile(`${tasks}/${id}/${f}`));
        if (pid > 1) {
          try {
            Deno.kill(pid, "SIGKILL");
          } catch {
            // gone
          }
        }
      }
    }
    for (const m of mountPoints().filter((m) => m.startsWith(`${this.spec.dir}/`)).reverse()) {
      await shTry("umount", ["-l", m]);
    }
    await Deno.remove(this.spec.dir, { recursive: true }).catch(() => {});
  }
}

/** Mount points of this mount namespace, in mount order. */
export function mountPoints(): string[] {
  return Deno.readTextFileSync("/proc/self/mountinfo").split("\n").filter(Boolean)
    .map((l) => l.split(" ")[4].replace(/\\040/g, " "));
}

function listDir(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name);
  } catch {
    return [];
  }
}

function readFile(path: string): string {
  try {
    return Deno.readTextFileSync(path).trim();
  } catch {
    return "";
  }
}
