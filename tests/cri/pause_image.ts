/**
 * The sandbox ("pause") image, built here from busybox-static and imported into a containerd
 * without any registry: a Docker-archive tarball (manifest.json, an image config, one layer) that
 * `ctr images import` reads. Its process only sleeps, as registry.k8s.io/pause does.
 */
import { sh } from "../harness/sh.ts";

export const PAUSE_IMAGE = "localhost/wtpause:1";

async function sha256Hex(b: Uint8Array<ArrayBuffer>): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", b));
  return Array.from(d, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Writes the image archive to `dir/pause.tar` (scratch files in `dir`); returns its path. */
export async function buildPauseImage(dir: string): Promise<string> {
  const root = `${dir}/pause-rootfs`, out = `${dir}/pause-image`;
  Deno.mkdirSync(`${root}/bin`, { recursive: true });
  Deno.mkdirSync(out, { recursive: true });
  Deno.copyFileSync("/bin/busybox", `${root}/bin/busybox`);
  for (const applet of ["sleep", "sh"]) Deno.symlinkSync("busybox", `${root}/bin/${applet}`);
  await sh(
    "tar",
    "--numeric-owner",
    "--owner=0",
    "--group=0",
    "-C",
    root,
    "-cf",
    `${out}/layer.tar`,
    ".",
  );
  const layer = Deno.readFileSync(`${out}/layer.tar`);
  const config = new TextEncoder().encode(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    config: { Entrypoint: ["/bin/sleep", "1000000000"], WorkingDir: "/" },
    rootfs: { type: "layers", diff_ids: [`sha256:${await sha256Hex(layer)}`] },
  }));
  const configName = `${await sha256Hex(config)}.json`;
  Deno.writeFileSync(`${out}/${configName}`, config);
  Deno.writeTextFileSync(
    `${out}/manifest.json`,
    JSON.stringify([{ Config: configName, RepoTags: [PAUSE_IMAGE], Layers: ["layer.tar"] }]),
  );
  const tar = `${dir}/pause.tar`;
  await sh("tar", "-C", out, "-cf", tar, "manifest.json", configName, "layer.tar");
  return tar;
}
