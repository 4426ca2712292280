/**
 * The images tests/deploy runs, made without a registry or network:
 *
 * - base: Debian (minbase + the packages in tests/deploy/base-image) unpacked by debootstrap from
 *   the packages tests/setup.sh fetched into .tmp/deploy, then `podman import`ed. The unpacked
 *   root file system is cached as a tar beside them (debootstrap takes ~50 s).
 * - build: base + Deno and a dependency cache where install.sh looks for them
 *   (/usr/local/lib/weavets/{deno,deno-dir}): what deploy/Containerfile asks of a local
 *   BUILD_IMAGE.
 * - weavets: deploy/Containerfile itself, built with --network=none from those two.
 *
 * A private podman (own containers.conf, storage.conf, storage) holds them; `cleanup` removes it.
 */
import { REPO_ROOT } from "../harness/binary.ts";
import { sh, shTry } from "../harness/sh.ts";

const CACHE = `${REPO_ROOT}/.tmp/deploy`;
export const BASE_IMAGE = "localhost/wtdeploy-base:1";
export const BUILD_IMAGE = "localhost/wtdeploy-build:1";
export const IMAGE = "localhost/weavets:wtdeploy";

export interface PodmanResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class Podman {
  readonly env: Record<string, string>;
  private constructor(readonly runDir: string, readonly storeDir: string) {
    this.env = {
      CONTAINERS_CONF: `${runDir}/containers.conf`,
      CONTAINERS_STORAGE_CONF: `${runDir}/storage.conf`,
    };
  }

  /** A private podman; runroot stays short (podman's socket paths are bounded). */
  static async create(): Promise<Podman> {
    const id = crypto.randomUUID().slice(0, 6);
    const p = new Podman(
      `/run/wtd-${id}`,
      await Deno.makeTempDir({ prefix: `wtd-${id}-`, dir: "/var/tmp" }),
    );
    Deno.mkdirSync(`${p.runDir}/tmp`, { recursive: true });
    Deno.writeTextFileSync(
      p.env.CONTAINERS_CONF,
      [
        "[containers]",
        'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]',
        'init_path = "/usr/bin/catatonit"',
        "[engine]",
        'runtime = "runc"',
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        `tmp_dir = "${p.runDir}/tmp"`,
        "",
      ].join("\n"),
    );
    Deno.writeTextFileSync(
      p.env.CONTAINERS_STORAGE_CONF,
      [
        "[storage]",
        'driver = "overlay"',
        `runroot = "${p.runDir}/rr"`,
        `graphroot = "${p.storeDir}/graph"`,
        "",
      ].join("\n"),
    );
    return p;
  }

  async try(...args: string[]): Promise<PodmanResult> {
    const out = await new Deno.Command("podman", {
      args,
      env: this.env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  }

  async run(...args: string[]): Promise<string> {
    const r = await this.try(...args);
    if (r.code !== 0) {
      throw new Error(`podman ${args.slice(0, 3).join(" ")} … failed (${r.code}):\n${r.stderr}`);
    }
    return r.stdout;
  }

  /** Removes every container and image, unmounts what is left and deletes its directories. */
  async cleanup(): Promise<void> {
    await this.try("rm", "--force", "--all", "--time", "0");
    // No `system reset` (tens of seconds): the storage is private and goes with its directory.
    for (const dir of [this.runDir, this.storeDir]) {
      const mounts = (await Deno.readTextFile("/proc/self/mounts")).split("\n")
        .map((l) => l.split(" ")[1] ?? "")
        .filter((m) => m.startsWith(`${dir}/`))
        .reverse();
      for (const m of mounts) await shTry("umount", ["-l", m]);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }
}

/** The suite and packages tests/setup.sh fetched (one line: "SUITE PKG,PKG"). */
function baseSpec(): { suite: string; include: string } {
  const [suite, include] = Deno.readTextFileSync(`${REPO_ROOT}/tests/deploy/base-image`)
    .trim().split(/\s+/);
  return { suite, include };
}

/** The base root file system as a tar, unpacked offline from the packages setup.sh fetched. */
export async function baseRootfsTar(): Promise<string> {
  const { suite, include } = baseSpec();
  // Named by the package list (as tests/setup.sh names it): a changed list is never stale.
  const name = `${suite}-minbase+${include.replaceAll(",", "+")}`;
  const tgz = `${CACHE}/${name}.tgz`;
  const tar = `${CACHE}/${name}-rootfs.tar`;
  const tgzStat = await Deno.stat(tgz).catch(() => null);
  if (!tgzStat) {
    throw new Error(`${tgz} is missing: run tests/setup.sh (it fetches Debian's packages once)`);
  }
  const tarStat = await Deno.stat(tar).catch(() => null);
  if (tarStat && tarStat.mtime! >= tgzStat.mtime!) return tar;
  const root = await Deno.makeTempDir({ prefix: "wtd-rootfs-", dir: "/var/tmp" });
  try {
    // No network (unshare -n): the packages come from the tarball only.
    const r = await shTry("unshare", [
      "-n",
      "debootstrap",
      "--variant=minbase",
      `--include=${include}`,
      `--unpack-tarball=${tgz}`,
      suite,
      root,
    ]);
    if (r.code !== 0) {
      throw new Error(`debootstrap --unpack-tarball failed:\n${r.stdout}${r.stderr}`);
    }
    await sh("tar", "-C", root, "--numeric-owner", "-cf", `${tar}.new`, ".");
    await Deno.rename(`${tar}.new`, tar);
    return tar;
  } finally {
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
}

/**
 * Deno's dependency cache for this checkout (deno.lock), cached under .tmp/deploy: the only step
 * that may reach the npm registry, and only when deno.lock changed.
 */
async function denoDir(): Promise<string> {
  const dir = `${CACHE}/deno-dir`;
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["install", "--frozen", "--entrypoint", "mod.ts"],
    cwd: REPO_ROOT,
    env: { DENO_DIR: dir, DENO_NO_UPDATE_CHECK: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!r.success) {
    throw new Error(`caching dependencies failed: ${new TextDecoder().decode(r.stderr)}`);
  }
  // install.sh bundles the plugin's path with `deno bundle`, whose esbuild Deno fetches from the
  // npm registry into DENO_DIR/dl once: fetched here, so the offline image build can bundle too.
  const out = await Deno.makeTempDir({ prefix: "wtd-bundle-" });
  try {
    const b = await new Deno.Command(Deno.execPath(), {
      args: [
        "bundle",
        "--frozen",
        "--platform",
        "deno",
        "--output",
        `${out}/plugin.js`,
        "cni/plugin_main.ts",
      ],
      cwd: REPO_ROOT,
      env: { DENO_DIR: dir, DENO_NO_UPDATE_CHECK: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!b.success) throw new Error(`deno bundle failed: ${new TextDecoder().decode(b.stderr)}`);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
  return dir;
}

/** Imports the base image and builds the build image and the weavets image; returns the log. */
export async function buildImages(podman: Podman): Promise<string> {
  await podman.run("import", await baseRootfsTar(), BASE_IMAGE);
  const ctx = await Deno.makeTempDir({ prefix: "wtd-buildctx-", dir: "/var/tmp" });
  try {
    await sh("cp", "-a", await denoDir(), `${ctx}/deno-dir`);
    await sh("cp", Deno.execPath(), `${ctx}/deno`);
    await Deno.writeTextFile(
      `${ctx}/Containerfile`,
      [
        `FROM ${BASE_IMAGE}`,
        "COPY deno /usr/local/lib/weavets/deno",
        "COPY deno-dir /usr/local/lib/weavets/deno-dir",
        "",
      ].join("\n"),
    );
    await podman.run("build", "--network=none", "--pull=never", "-t", BUILD_IMAGE, ctx);
  } finally {
    await Deno.remove(ctx, { recursive: true }).catch(() => {});
  }
  return await podman.run(
    "build",
    "--network=none",
    "--pull=never",
    "--build-arg",
    `BUILD_IMAGE=${BUILD_IMAGE}`,
    "--build-arg",
    `BASE_IMAGE=${BASE_IMAGE}`,
    "-f",
    `${REPO_ROOT}/deploy/Containerfile`,
    "-t",
    IMAGE,
    REPO_ROOT,
  );
}
