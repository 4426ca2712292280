/**
 * IPAM by delegation, as the spec describes: exec the plugin named by `ipam.type`, found in
 * CNI_PATH, with the same environment (CNI_COMMAND set to ours) and the same config on stdin.
 * The name is a plain file name (cni/config.ts refuses a path separator, as libcni does).
 */
import type { CommandContext } from "../context.ts";
import { CniError, decodeJson, ErrorCode } from "../errors.ts";
import { firstAddress, gatewayCidr } from "../subnet.ts";
import { type IPConfig, parseResult, type Result } from "../result.ts";
import type { IpamSource } from "./types.ts";

export class DelegatedIpam implements IpamSource {
  readonly #path: string;
  /** Error 5 (4 without CNI_PATH) when the plugin is not in CNI_PATH: before anything is made. */
  constructor(readonly ctx: CommandContext, readonly type: string) {
    this.#path = this.#find();
  }

  async add(): Promise<Result> {
    const out = await this.#exec("ADD");
    const raw = decodeJson(
      out,
      `the ipam plugin "${this.type}" printed a result that is not JSON`,
    );
    const r = parseResult(raw, `the ipam plugin "${this.type}"'s result`);
    if (!r.ips?.length) {
      throw new CniError(
        ErrorCode.IOFailure,
        `the ipam plugin "${this.type}" returned no address; check its "ipam" configuration`,
      );
    }
    return r;
  }

  bridgeAddress(alloc: Result): Promise<string> {
    // As the reference bridge plugin: the IPAM's gateway, else the subnet's first address.
    const ip = alloc.ips![0];
    return Promise.resolve(
      ip.gateway ? gatewayCidr(ip.gateway, ip.address) : firstAddress(ip.address),
    );
  }

  gateway(_alloc: Result, bridgeIp: string): string {
    return bridgeIp;
  }

  async del(): Promise<void> {
    await this.#exec("DEL");
  }

  async check(_ips: IPConfig[]): Promise<void> {
    // The delegate reads the same prevResult from the same config and checks its own records.
    await this.#exec("CHECK");
  }

  async gc(): Promise<void> {
    // The delegate reads cni.dev/valid-attachments from the same config.
    if (await this.#speaks("GC")) await this.#exec("GC");
  }

  async status(): Promise<void> {
    if (await this.#speaks("STATUS")) await this.#exec("STATUS");
  }

  /**
   * GC and STATUS exist from spec 1.1.0; a delegate that does not speak the config's version
   * (host-local before plugins 1.5 answers them with "missing containerID") is skipped, saying so.
   */
  async #speaks(command: string): Promise<boolean> {
    let versions: unknown;
    try {
      versions = JSON.parse(await this.#exec("VERSION"))?.supportedVersions;
    } catch {
      versions = undefined;
    }
    const want = this.ctx.conf.cniVersion;
    if (Array.isArray(versions) && versions.includes(want)) return true;
    console.error(
      `weavets cni: ${command}: the ipam plugin "${this.type}" does not speak cniVersion ` +
        `${want}; skipped it (upgrade it to let ${command} reach its allocations)`,
    );
    return false;
  }

  #find(): string {
    for (const dir of this.ctx.env.path) {
      const path = `${dir}/${this.type}`;
      try {
        if (Deno.statSync(path).isFile) return path;
      } catch {
        // not in this directory
      }
    }
    throw new CniError(
      this.ctx.env.path.length ? ErrorCode.IOFailure : ErrorCode.InvalidEnvironment,
      this.ctx.env.path.length
        ? `the ipam plugin "${this.type}" was not found in CNI_PATH ` +
          `(${this.ctx.env.path.join(":")}); install it there or fix "ipam.type"`
        : `CNI_PATH is not set; the runtime must set it so the ipam plugin "${this.type}" ` +
          "can be found",
    );
  }

  /** Runs the delegate; returns its stdout, or rethrows its CNI error with its code. */
  async #exec(command: string): Promise<string> {
    const child = new Deno.Command(this.#path, {
      env: { ...this.ctx.processEnv, CNI_COMMAND: command },
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = child.stdin.getWriter();
    try {
      await w.write(new TextEncoder().encode(this.ctx.rawConfig));
      await w.close();
    } catch (e) {
      // A plugin may fail (and exit) without reading its config: its output tells why.
      if (!(e instanceof Deno.errors.BrokenPipe)) throw e;
    }
    const out = await child.output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr).trim();
    if (stderr) Deno.stderr.writeSync(new TextEncoder().encode(`${this.type}: ${stderr}\n`));
    if (out.success) return stdout;
    let err: { code?: unknown; msg?: unknown; details?: unknown } = {};
    try {
      err = JSON.parse(stdout);
    } catch {
      // not the spec's error object: report what we have
    }
    const code = typeof err.code === "number" ? err.code : ErrorCode.IOFailure;
    const msg = typeof err.msg === "string" ? err.msg : (stderr || stdout.trim() || "no output");
    throw new CniError(
      code,
      `the ipam plugin "${this.type}" failed ${command} (exit ${out.code}): ${msg}`,
      typeof err.details === "string" ? err.details : undefined,
    );
  }
}
