/**
 * A minimal CNI runtime: runs a conflist's plugins in order for ADD (each later plugin gets the
 * previous result as prevResult) and in reverse for DEL, exactly as libcni does — env + stdin.
 * The demo and the end-to-end tests use it to create pods the way kubelet's runtime would.
 */
import { execIn } from "./exec.ts";

export interface Conflist {
  cniVersion: string;
  name: string;
  plugins: Array<Record<string, unknown> & { type: string }>;
}

export interface PodAttachment {
  containerId: string;
  netnsPath: string;
  ifname: string;
  /** Extra CNI_ARGS, e.g. "K8S_POD_NAME=web-1". */
  args?: string;
}

/**
 * A plugin's error object as this runtime read it (the spec's code and msg). Not cni/errors.ts's
 * CniError, which the plugin itself prints: the two shared a name until issue 15.
 */
export class CniPluginError extends Error {
  override name = "CniPluginError";
  constructor(readonly plugin: string, readonly code: number, message: string) {
    super(message);
  }
}

export class CniRuntime {
  /**
   * @param conflist the network configuration list (e.g. deploy/cni/10-weavets.conflist)
   * @param pluginDirs CNI_PATH: directories searched for plugin binaries by type name
   * @param runInNetns the runtime's own namespace (a node), or null for this one
   */
  constructor(
    readonly conflist: Conflist,
    readonly pluginDirs: string[],
    readonly runInNetns: string | null = null,
  ) {}

  #find(type: string): string | undefined {
    for (const dir of this.pluginDirs) {
      try {
        const p = `${dir}/${type}`;
        if (Deno.statSync(p).isFile) return p;
      } catch {
        // not in this directory
      }
    }
    return undefined;
  }

  async #invoke(
    command: string,
    plugin: Conflist["plugins"][number],
    pod: PodAttachment,
    prevResult?: unknown,
  ): Promise<unknown> {
    const bin = this.#find(plugin.type);
    if (!bin) {
      throw new CniPluginError(
        plugin.type,
        0,
        `plugin "${plugin.type}" not found in ${this.pluginDirs.join(":")}`,
      );
    }
    const config: Record<string, unknown> = {
      ...plugin,
      cniVersion: this.conflist.cniVersion,
      name: this.conflist.name,
    };
    if (prevResult !== undefined) config.prevResult = prevResult;
    const r = await execIn(this.runInNetns, bin, [], {
      clearEnv: true,
      env: {
        PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
        CNI_COMMAND: command,
        CNI_CONTAINERID: pod.containerId,
        CNI_NETNS: pod.netnsPath,
        CNI_IFNAME: pod.ifname,
        CNI_ARGS: ["IgnoreUnknown=1", pod.args].filter(Boolean).join(";"),
        CNI_PATH: this.pluginDirs.join(":"),
      },
      stdin: JSON.stringify(config),
      timeoutMs: 60_000,
    });
    if (r.code !== 0) {
      let msg = r.stderr.trim() || `exit ${r.code}`;
      let code = r.code;
      try {
        const err = JSON.parse(r.stdout);
        msg = `${err.msg}${err.details ? `: ${err.details}` : ""}`;
        code = err.code;
      } catch {
        // not the spec's error JSON
      }
      throw new CniPluginError(plugin.type, code, `${plugin.type} ${command} failed: ${msg}`);
    }
    return r.stdout.trim() ? JSON.parse(r.stdout) : undefined;
  }

  /** The plugins that can run here: the first always; chained ones only when installed. */
  #plugins(): Conflist["plugins"] {
    return this.conflist.plugins.filter((p, i) => i === 0 || this.#find(p.type));
  }

  async add(pod: PodAttachment): Promise<unknown> {
    let result: unknown;
    for (const p of this.#plugins()) result = await this.#invoke("ADD", p, pod, result);
    return result;
  }

  async del(pod: PodAttachment, prevResult?: unknown): Promise<void> {
    for (const p of this.#plugins().reverse()) await this.#invoke("DEL", p, pod, prevResult);
  }

  /** STATUS (conflists of CNI 1.1.0 and later): each plugin in order; throws the first error. */
  async status(): Promise<void> {
    const none = { containerId: "", netnsPath: "", ifname: "" };
    for (const p of this.#plugins()) await this.#invoke("STATUS", p, none);
  }
}
