/**
 * Root test: the encrypted userspace path's keys come from the control connections (real daemons,
 * mesh over TCP). When a control connection dies and is made again, or a daemon restarts, the pair
 * gets a new session key and pod traffic continues under it.
 */
import assert from "node:assert/strict";
import { IS_ROOT } from "../harness/netns.ts";
import { sh } from "../harness/sh.ts";
import { until } from "../harness/wait.ts";
import { Cluster, ping, underlayIp } from "./cluster.ts";

const established = (c: Cluster, node: number) =>
  c.driverLog(node).split("\n").filter((l) => l.includes('"connection established"')).length;

async function encryptedPathUp(c: Cluster): Promise<void> {
  for (const [n, p] of [[0, 1], [1, 0]]) {
    await until(`node ${n} holds a key for node ${p}`, async () => {
      const v = await c.pathTo(n, p);
      return v?.path === "sleeve" && /userspace path carries all traffic/.test(v.reason);
    }, 20_000);
  }
}

Deno.test({
  name:
    "encrypted userspace path: after the control connection is cut and made again, and after a daemon restart, pods talk under the new session key",
  ignore: !IS_ROOT,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const c = await Cluster.start({
      nodes: 2,
      podsPerNode: 1,
      fastdp: true,
      password: "reconnect-pw",
      daemon: true,
      prefix: "wtkey",
    });
    const [a, b] = c.pods;
    try {
      await encryptedPathUp(c);
      assert.ok(await ping(a, b, 2) || await ping(a, b, 2), "pods talk");

      // Cut the control connection only (TCP 6783), not the data path: once the mesh declares it
      // dead, nothing is sent (no session, never plaintext); when it is made again, with a new
      // key, traffic resumes.
      const n1 = c.nodes[1];
      const nft = (rule: string) => sh("ip", "netns", "exec", n1, "nft", rule);
      await nft("add table ip wtkeycut");
      await nft("add chain ip wtkeycut input { type filter hook input priority 0 ; }");
      await nft(`add rule ip wtkeycut input ip saddr ${underlayIp(0)} tcp dport 6783 drop`);
      await nft(`add rule ip wtkeycut input ip saddr ${underlayIp(0)} tcp sport 6783 drop`);
      const before = established(c, 0);
      try {
        await until("the control connection declared dead", async () => {
          const v = await c.pathTo(0, 1);
          return v === undefined || /no control connection/.test(v.reason);
        }, 15_000);
        assert.ok(!(await ping(a, b)), "no session: nothing crosses");
      } finally {
        await nft("delete table ip wtkeycut");
      }
      await encryptedPathUp(c);
      assert.ok(established(c, 0) > before, "a new control connection (so a new key)");
      assert.ok(await ping(a, b, 2) || await ping(a, b, 2), "pods talk after the reconnection");

      // A daemon restart: a new process, new connections, new keys.
      await c.kill(1);
      await c.startDriver(1);
      await encryptedPathUp(c);
      assert.ok(await ping(b, a, 2) || await ping(b, a, 2), "pods talk after a daemon restart");
      for (const n of [0, 1]) {
        const s = (await c.status(n)).sleeve as Record<string, number>;
        assert.equal(s.rxAuthFailed, 0, `node ${n}: ${JSON.stringify(s)}`);
        assert.ok(s.rxFrames > 0);
      }
    } catch (e) {
      for (let i = 0; i < c.nodes.length; i++) console.error(`--- node ${i}\n${c.driverLog(i)}`);
      throw e;
    } finally {
      await c.stop();
    }
  },
});
