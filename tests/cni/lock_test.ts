/**
 * The node lock against a local user (security review M7): with the directory 0755 and the file
 * 0644 that older versions left, `nobody` could flock it and stall every pod ADD. Root: it runs
 * `flock` as nobody (setpriv).
 */
import assert from "node:assert/strict";
import { withNodeLock } from "../../cni/lock.ts";
import { IS_ROOT } from "../harness/netns.ts";

function asNobody(args: string[]): Deno.Command {
  return new Deno.Command("setpriv", {
    args: ["--reuid=65534", "--regid=65534", "--clear-groups", "--", ...args],
    stdout: "piped",
    stderr: "piped",
  });
}

Deno.test({
  name: "cni lock: a lock held by nobody on an old 0644 file does not stall ADD; afterwards " +
    "the directory is 0700, the file 0600, and nobody cannot take the lock",
  ignore: !IS_ROOT,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "wtc-lock-" });
    const dir = `${root}/run-weavets`;
    const file = `${dir}/cni.lock`;
    let holder: Deno.ChildProcess | undefined;
    try {
      // What an older version left: the manifest's 0755 directory, a 0644 lock file.
      await Deno.chmod(root, 0o755);
      await Deno.mkdir(dir, { mode: 0o755 });
      await Deno.chmod(dir, 0o755);
      await Deno.writeFile(file, new Uint8Array(), { mode: 0o644 });
      await Deno.chmod(file, 0o644);
      // Negative control: there, nobody can hold the lock...
      holder = asNobody(["flock", "-x", file, "-c", "echo held; exec sleep 60"]).spawn();
      const reader = holder.stdout.getReader();
      const { value } = await reader.read();
      assert.match(new TextDecoder().decode(value), /held/, "nobody took the old lock");
      reader.releaseLock();
      // ...and the ADD's lock must not wait for it.
      const t0 = performance.now();
      const got = await Promise.race([
        withNodeLock(() => "locked", dir),
        new Promise((r) => setTimeout(() => r("stalled"), 5000)),
      ]);
      assert.equal(got, "locked");
      console.log(`locked in ${(performance.now() - t0).toFixed(0)} ms despite nobody's flock`);
      assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
      assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
      // Now nobody cannot even open it.
      const denied = await asNobody(["flock", "-n", "-x", file, "true"]).output();
      assert.notEqual(denied.code, 0);
      assert.match(new TextDecoder().decode(denied.stderr), /Permission denied/);
    } finally {
      if (holder) {
        holder.kill("SIGKILL");
        await holder.status;
        await holder.stdout.cancel().catch(() => {});
        await holder.stderr.cancel().catch(() => {});
      }
      await Deno.remove(root, { recursive: true });
    }
  },
});
