/**
 * install.sh as an operator runs it: into a prefix, twice (idempotent), producing a weavets that
 * runs with a stripped environment, and the CNI plugin where asked.
 */
import assert from "node:assert/strict";
import { REPO_ROOT } from "./harness/binary.ts";
import { shTry } from "./harness/sh.ts";

const INSTALL = `${REPO_ROOT}/install.sh`;

async function install(...args: string[]) {
  // The caller's DENO_DIR must not leak into what install.sh produces.
  return await shTry("env", ["-u", "DENO_DIR", INSTALL, ...args]);
}

Deno.test({
  name: "install.sh: installs weavets and the CNI plugin, idempotently, runnable with env -i",
  sanitizeResources: false,
  async fn() {
    const prefix = await Deno.makeTempDir({ prefix: "wt-install-" });
    try {
      const cni = `${prefix}/cni-bin`;
      for (let i = 0; i < 2; i++) {
        const r = await install("--prefix", prefix, "--cni-bin-dir", cni);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /produced (a compiled binary|an equivalent launcher)/);
        assert.match(r.stdout, /done \((compiled|launcher)\): weavets /);
      }
      for (const bin of [`${prefix}/bin/weavets`, `${cni}/weavets`]) {
        const v = await shTry("env", ["-i", "PATH=/usr/bin:/bin", bin, "version"]);
        assert.equal(v.code, 0, v.stderr);
        assert.match(v.stdout, /^weavets \d+\.\d+\.\d+/);
        // Runtimes exec the plugin by its type name with no arguments.
        const c = await shTry("env", ["-i", "CNI_COMMAND=VERSION", bin], '{"cniVersion":"1.0.0"}');
        assert.doesNotMatch(c.stderr + c.stdout, /usage: weavets/);
      }
      // The launcher (when that is what was produced) never reaches the network, and finds its
      // runtime relative to itself: the installation can be moved (or copied, as into an image).
      const text = await Deno.readTextFile(`${prefix}/bin/weavets`).catch(() => "");
      if (text.startsWith("#!")) {
        assert.match(text, /--cached-only/);
        // install.sh bundles the plugin's path (offline: Deno's bundler needs no download).
        const bundled = await Deno.stat(`${prefix}/lib/weavets/plugin.js`).then(
          () => true,
          () => false,
        );
        assert.equal(bundled, true, await Deno.readTextFile(`${prefix}/lib/weavets/bundle.log`));
        const moved = `${prefix}-moved`;
        await Deno.rename(prefix, moved);
        try {
          const v = await shTry("env", ["-i", `${moved}/bin/weavets`, "version"]);
          assert.equal(v.code, 0, v.stderr);
          // The plugin's path runs the bundle (lib/weavets/plugin.js) beside the moved runtime.
          const c = await shTry(
            "env",
            ["-i", "CNI_COMMAND=VERSION", `${moved}/bin/weavets`],
            '{"cniVersion":"1.0.0"}',
          );
          assert.equal(c.code, 0, c.stderr);
          assert.match(c.stdout, /"supportedVersions"/);
        } finally {
          await Deno.rename(moved, prefix);
        }
      }
    } finally {
      await Deno.remove(prefix, { recursive: true });
    }
  },
});

Deno.test("install.sh: --no-cni installs no plugin; bad options fail with a reason", async () => {
  const prefix = await Deno.makeTempDir({ prefix: "wt-install-" });
  try {
    const r = await install("--prefix", prefix, "--cni-bin-dir", `${prefix}/cni`, "--no-cni");
    assert.equal(r.code, 0, r.stderr);
    await assert.rejects(Deno.stat(`${prefix}/cni/weavets`));
    const bad = await install("--frobnicate");
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /unknown option '--frobnicate'/);
    const badRt = await shTry("env", [
      "DENORT_BIN=/nonexistent/denort",
      INSTALL,
      "--prefix",
      prefix,
      "--no-cni",
    ]);
    assert.notEqual(badRt.code, 0);
    assert.match(badRt.stderr, /DENORT_BIN=\/nonexistent\/denort is not an executable/);
  } finally {
    await Deno.remove(prefix, { recursive: true });
  }
});
