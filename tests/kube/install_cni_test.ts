/**
 * deploy/init/install-cni.sh, the DaemonSet's init container: idempotent, the binary replaced
 * atomically (even while a runtime executes it), the conflist written only when absent, and an
 * image's launcher installed with its own runtime beside it. Runs the real script with /bin/sh
 * against temporary directories; no root needed.
 */
import assert from "node:assert/strict";
import { REPO_ROOT } from "../harness/binary.ts";

const SCRIPT = `${REPO_ROOT}/deploy/init/install-cni.sh`;

const CONFLIST = JSON.stringify(
  {
    cniVersion: "1.0.0",
    name: "weavets",
    plugins: [
      { type: "weavets", hairpinMode: true },
      { type: "portmap", capabilities: { portMappings: true }, snat: true },
    ],
  },
  null,
  2,
) + "\n";

interface Fixture {
  dir: string;
  bin: string;
  conf: string;
  src: string;
  conflistSrc: string;
  cleanup(): void;
}

function fixture(): Fixture {
  const dir = Deno.makeTempDirSync({ prefix: "wtk-install-" });
  const f = {
    dir,
    bin: `${dir}/opt/cni/bin`,
    conf: `${dir}/etc/cni/net.d`,
    src: `${dir}/image/weavets`,
    conflistSrc: `${dir}/image/10-weavets.conflist`,
    cleanup: () => Deno.removeSync(dir, { recursive: true }),
  };
  Deno.mkdirSync(`${dir}/image`);
  Deno.copyFileSync("/bin/sleep", f.src);
  Deno.writeTextFileSync(f.conflistSrc, CONFLIST);
  return f;
}

async function install(f: Fixture, env: Record<string, string> = {}) {
  const out = await new Deno.Command("/bin/sh", {
    args: [SCRIPT],
    env: {
      PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
      CNI_BIN_DIR: f.bin,
      CNI_CONF_DIR: f.conf,
      WEAVETS_BIN: f.src,
      CONFLIST_SRC: f.conflistSrc,
      ...env,
    },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function same(a: string, b: string): boolean {
  const x = Deno.readFileSync(a);
  const y = Deno.readFileSync(b);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

Deno.test("install-cni: twice in a row gives the same result; an edited conflist is kept", async () => {
  const f = fixture();
  try {
    const first = await install(f);
    assert.equal(first.code, 0, first.stderr);
    const plugin = `${f.bin}/weavets`;
    assert.ok(same(plugin, f.src));
    assert.equal(Deno.statSync(plugin).mode! & 0o777, 0o755);
    const conflist = `${f.conf}/10-weavets.conflist`;
    assert.equal(Deno.readTextFileSync(conflist), CONFLIST);

    // The operator tunes the config; a restart of the pod must not undo it.
    const edited = CONFLIST.replace('"hairpinMode": true', '"hairpinMode": true, "mtu": 8912');
    Deno.writeTextFileSync(conflist, edited);
    const second = await install(f);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /kept existing .*10-weavets\.conflist/);
    assert.equal(Deno.readTextFileSync(conflist), edited);
    assert.ok(same(plugin, f.src));

    // Nothing else left behind in the host directories (Weave Net's names are the plugin too).
    assert.deepEqual([...Deno.readDirSync(f.bin)].map((e) => e.name).sort(), [
      "weave-ipam",
      "weave-net",
      "weavets",
    ]);
    assert.deepEqual([...Deno.readDirSync(f.conf)].map((e) => e.name), ["10-weavets.conflist"]);
  } finally {
    f.cleanup();
  }
});

Deno.test("install-cni: Weave Net's plugin names are hard links of the plugin, replaced with it", async () => {
  const f = fixture();
  try {
    for (let round = 0; round < 2; round++) {
      if (round === 1) Deno.copyFileSync("/bin/true", f.src); // an upgrade
      const r = await install(f);
      assert.equal(r.code, 0, r.stderr);
      const ino = Deno.statSync(`${f.bin}/weavets`).ino;
      for (const name of ["weave-net", "weave-ipam"]) {
        const st = Deno.lstatSync(`${f.bin}/${name}`);
        // Not a symbolic link: the plugin knows which one it is by the name it was exec'd by.
        assert.ok(st.isFile, `${name} is a regular file`);
        assert.equal(st.ino, ino, `${name} is the installed plugin (round ${round})`);
      }
      assert.ok(same(`${f.bin}/weave-ipam`, f.src));
    }
  } finally {
    f.cleanup();
  }
});

Deno.test("install-cni: the binary is replaced by rename, even while it is running", async () => {
  const f = fixture();
  let running: Deno.ChildProcess | undefined;
  try {
    assert.equal((await install(f)).code, 0);
    const plugin = `${f.bin}/weavets`;
    const before = Deno.statSync(plugin).ino;
    // A runtime executing the plugin at upgrade time: writing into this file would fail with
    // ETXTBSY ("text file busy"); a rename replaces it without touching the running copy.
    running = new Deno.Command(plugin, { args: ["30"], stdout: "null", stderr: "null" }).spawn();
    await new Promise((r) => setTimeout(r, 50));
    Deno.copyFileSync("/bin/true", f.src); // the upgraded image's binary
    const upgrade = await install(f);
    assert.equal(upgrade.code, 0, upgrade.stderr);
    assert.ok(same(plugin, f.src), "the new binary is installed");
    assert.notEqual(Deno.statSync(plugin).ino, before, "a new file, not rewritten in place");
    const status = await Promise.race([
      running.status.then(() => "exited"),
      new Promise((r) => setTimeout(() => r("running"), 100)),
    ]);
    assert.equal(status, "running", "the process running the old binary is unaffected");
  } finally {
    if (running) {
      running.kill("SIGKILL");
      await running.status;
    }
    f.cleanup();
  }
});

Deno.test("install-cni: HAIRPIN_MODE sets hairpinMode in a new conflist; bad values refused", async () => {
  const f = fixture();
  try {
    const off = await install(f, { HAIRPIN_MODE: "false" });
    assert.equal(off.code, 0, off.stderr);
    const written = JSON.parse(Deno.readTextFileSync(`${f.conf}/10-weavets.conflist`));
    assert.equal(written.plugins[0].hairpinMode, false);
    assert.equal(written.plugins[1].type, "portmap");

    const bad = await install(f, { HAIRPIN_MODE: "yes" });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /HAIRPIN_MODE must be "true" or "false", not "yes"/);

    const missing = await install(f, { WEAVETS_BIN: `${f.dir}/nope` });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /binary .*nope not found/);
  } finally {
    f.cleanup();
  }
});

Deno.test("install-cni: says when another conflist (Weave Net's or not) would still win", async () => {
  const f = fixture();
  try {
    Deno.mkdirSync(f.conf, { recursive: true });
    Deno.writeTextFileSync(`${f.conf}/10-weave.conflist`, "{}");
    Deno.writeTextFileSync(`${f.conf}/99-other.conflist`, "{}");
    Deno.writeTextFileSync(`${f.conf}/05-calico.conflist`, "{}");
    const r = await install(f);
    assert.equal(r.code, 0, r.stderr);
    // Weave's is named with what takes it away (the reset-weave init container); others warned.
    assert.match(r.stdout, /NOTE: .*10-weave\.conflist \(Weave Net's\) sorts before 10-weavets/);
    assert.match(r.stdout, /weavets reset --weave/);
    assert.match(r.stdout, /WARNING: .*05-calico\.conflist sorts before 10-weavets\.conflist/);
    assert.doesNotMatch(r.stdout, /99-other/);
  } finally {
    f.cleanup();
  }
});

/**
 * The launcher install.sh writes (its text, taken from install.sh), in an "image" whose runtime is
 * a shell script standing in for Deno: it prints the directory it runs from and its arguments.
 */
function launcherImage(f: Fixture, buildId: string): string {
  const install = Deno.readTextFileSync(`${REPO_ROOT}/install.sh`);
  const text = install.match(/<<'LAUNCHER'\n([\s\S]*?)\nLAUNCHER\n/)![1] + "\n";
  const lib = `${f.dir}/image/lib/weavets`;
  Deno.mkdirSync(`${lib}/src`, { recursive: true });
  Deno.mkdirSync(`${f.dir}/image/bin`, { recursive: true });
  Deno.writeTextFileSync(
    `${lib}/deno`,
    '#!/bin/sh\necho "runtime in $(cd "\${0%/*}" && pwd -P): $*"\n',
    {
      mode: 0o755,
    },
  );
  Deno.writeTextFileSync(`${lib}/build-id`, `${buildId}\n`);
  Deno.writeTextFileSync(`${f.dir}/image/bin/weavets`, text, { mode: 0o755 });
  return `${f.dir}/image/bin/weavets`;
}

async function run(path: string, ...args: string[]) {
  const out = await new Deno.Command(path, { args, clearEnv: true, stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).trim();
}

Deno.test("install-cni: an image's launcher is installed with its own runtime beside it", async () => {
  const f = fixture();
  try {
    const bin = launcherImage(f, "00aa");
    const image = `${f.dir}/image/lib/weavets`;
    assert.match(await run(bin, "version"), new RegExp(`^runtime in ${image}: run .* version$`));
    const r = await install(f, { WEAVETS_BIN: bin, WEAVETS_LIB: image });
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /installed .*\/weavets \(a launcher with its runtime in weavets\.d\/00aa\)/,
    );
    // The image is gone (as on a node): the plugin and Weave Net's names run from weavets.d.
    Deno.removeSync(`${f.dir}/image`, { recursive: true });
    for (const name of ["weavets", "weave-net", "weave-ipam"]) {
      assert.match(
        await run(`${f.bin}/${name}`, "version"),
        new RegExp(
          `^runtime in ${f.bin}/weavets\\.d/00aa: run .*--config ${f.bin}/weavets\\.d/00aa/src/deno\\.json .* version$`,
        ),
      );
    }
  } finally {
    f.cleanup();
  }
});

Deno.test("install-cni: a launcher's runtime is copied once per build; the previous one is kept", async () => {
  const f = fixture();
  try {
    const ids = () => [...Deno.readDirSync(`${f.bin}/weavets.d`)].map((e) => e.name).sort();
    const env = (id: string) => ({
      WEAVETS_BIN: launcherImage(f, id),
      WEAVETS_LIB: `${f.dir}/image/lib/weavets`,
    });
    assert.equal((await install(f, env("0001"))).code, 0);
    const marker = `${f.bin}/weavets.d/0001/marker`;
    Deno.writeTextFileSync(marker, "");
    const again = await install(f, env("0001"));
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stdout, /installed the launcher's runtime/);
    Deno.statSync(marker); // the same build is not copied again
    assert.equal((await install(f, env("0002"))).code, 0);
    assert.deepEqual(ids(), ["0001", "0002"], "the previous build stays for plugins still running");
    assert.equal((await install(f, env("0003"))).code, 0);
    assert.deepEqual(ids(), ["0002", "0003"]);
    // An upgrade to a compiled binary keeps the launcher's build until the next one.
    assert.equal((await install(f)).code, 0);
    assert.ok(same(`${f.bin}/weavets`, f.src));
    assert.deepEqual(ids(), ["0003"]);

    Deno.writeTextFileSync(`${f.dir}/image/lib/weavets/build-id`, "../../etc\n");
    const bad = await install(f, {
      WEAVETS_BIN: `${f.dir}/image/bin/weavets`,
      WEAVETS_LIB: `${f.dir}/image/lib/weavets`,
    });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /build-id is missing or invalid/);
  } finally {
    f.cleanup();
  }
});
