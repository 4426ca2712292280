/**
 * Issue 17: `weavets reset --weave` on a simulated Weave node removes Weave's leftovers and
 * nothing else (the host's own rules, the bridge, its address and the pods stay and still talk);
 * `weavets reset` after a real daemon ran leaves the node's ruleset and links as before it
 * started. Both refuse while something holds the ports.
 */
import assert from "node:assert/strict";
import { weavetsBin } from "../harness/binary.ts";
import { linkNames } from "../harness/links.ts";
import { IS_ROOT, withNamespaces } from "../harness/netns.ts";
import { sh, shTry } from "../harness/sh.ts";
import { hasIpset, stopStandIn, weaverStandIn, withWeaveNode } from "./sim.ts";

const inNs = (ns: string, ...args: string[]) => shTry("ip", ["netns", "exec", ns, ...args]);

async function ruleset(node: string): Promise<string> {
  const save = (await inNs(node, "iptables-save")).stdout;
  const lines = save.split("\n").filter((l) => !l.startsWith("#"));
  return lines.map((l) => l.replace(/\[\d+:\d+\]$/, "[-]")).join("\n") +
    (await inNs(node, "nft", "-s", "list", "ruleset")).stdout;
}

Deno.test({
  name: "reset --weave: Weave's leftovers go; host rules, bridge, address and pods stay",
  ignore: !IS_ROOT,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withWeaveNode("wtwr", async ({ node, pods, confDir }) => {
      await sh(
        "ip",
        "netns",
        "exec",
        node,
        "iptables",
        "-A",
        "FORWARD",
        "-i",
        "eth9",
        "-j",
        "ACCEPT",
      );
      const reset = () => inNs(node, weavetsBin(), "reset", "--weave", `--cni-conf-dir=${confDir}`);

      // A live weaver: refused, nothing changed.
      const standIn = weaverStandIn(node);
      try {
        await standIn.stdout.getReader().read();
        const before = await ruleset(node);
        const r = await reset();
        assert.equal(r.code, 3, r.stdout + r.stderr);
        assert.match(r.stderr, /refusing.*Nothing was changed/s);
        assert.equal(await ruleset(node), before);
      } finally {
        await stopStandIn(standIn);
      }

      // Our conflist not there yet: everything else goes, Weave's conflist is kept (exit 1).
      const first = await reset();
      assert.equal(first.code, 1, first.stdout + first.stderr);
      assert.match(first.stderr, /kept 10-weave\.conflist: 10-weavets\.conflist is not in/);
      const save = (await inNs(node, "iptables-save")).stdout;
      assert.doesNotMatch(save, /WEAVE|-o weave|-i weave|Weave Net/, save);
      assert.match(save, /-A FORWARD -i eth9 -j ACCEPT/, "the host's own rule stays");
      if (await hasIpset()) {
        assert.equal((await inNs(node, "ipset", "list", "-n")).stdout.trim(), "");
      }
      const links = await linkNames(node);
      for (const d of ["datapath", "vethwe-bridge", "vethwe-datapath", "vxlan-6784"]) {
        assert.ok(!links.includes(d), `${d} removed: ${links}`);
      }
      assert.ok(links.includes("weave"));
      const addr = await sh("ip", "-n", node, "-4", "-o", "addr", "show", "dev", "weave");
      assert.match(addr, /10\.32\.0\.1\/12/, "the bridge keeps its address (pods' gateway)");
      const ping = await shTry("ip", [
        "netns",
        "exec",
        pods[0],
        "busybox",
        "ping",
        "-c1",
        "-W2",
        "10.32.0.3",
      ]);
      assert.equal(ping.code, 0, "pods on the bridge still talk");

      // With our conflist installed, Weave's is renamed out of the runtimes' way; a second
      // run finds nothing else.
      Deno.writeTextFileSync(`${confDir}/10-weavets.conflist`, "{}");
      const second = await reset();
      assert.equal(second.code, 0, second.stdout + second.stderr);
      assert.match(second.stdout, /removed CNI config 10-weave\.conflist/);
      assert.deepEqual([...Deno.readDirSync(confDir)].map((e) => e.name).sort(), [
        "10-weave.conflist.weavets-disabled",
        "10-weavets.conflist",
      ]);
      const third = await reset();
      assert.equal(third.code, 0);
      assert.doesNotMatch(third.stdout, /removed/);
    }),
});

Deno.test({
  name: "reset: after a daemon ran (FORWARD DROP), the ruleset and links are as before it started",
  ignore: !IS_ROOT,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withNamespaces("wtwr", async (ns) => {
      const node = ns.add("node");
      const tmp = Deno.makeTempDirSync({ prefix: "wtwr-" });
      await sh("ip", "-n", node, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1");
      await sh("ip", "-n", node, "addr", "add", "192.168.98.1/24", "dev", "eth0");
      await sh("ip", "-n", node, "link", "set", "eth0", "up");
      await sh("ip", "-n", node, "link", "set", "eth1", "up");
      await sh("ip", "netns", "exec", node, "iptables", "-P", "FORWARD", "DROP");
      const before = { rules: await ruleset(node), links: await linkNames(node) };
      // Twice: a restarted daemon is not refused because of its own VXLAN device's socket.
      for (const round of [1, 2]) {
        const daemon = new Deno.Command("ip", {
          args: [
            "netns",
            "exec",
            node,
            weavetsBin(),
            "daemon",
            `--datadir=${tmp}/data`,
            "--ipalloc-init=consensus=1",
            "--host=192.168.98.1",
          ],
          stdout: "null",
          stderr: "piped",
        }).spawn();
        const log = daemon.stderr.pipeThrough(new TextDecoderStream()).getReader();
        let text = "";
        try {
          // Up once it says so (then its forward accepts and the bridge are in place).
          const deadline = Date.now() + 60_000;
          while (!/"msg":"started"/.test(text) && Date.now() < deadline) {
            const { value, done } = await log.read();
            if (done) break;
            text += value;
          }
          assert.match(text, /"msg":"started"/, `round ${round}: ${text}`);
          const during = await ruleset(node);
          assert.match(
            during,
            /-A FORWARD -i weave -m comment --comment weavets-forward -j ACCEPT/,
          );
          assert.match(during, /table ip weavets/);
          // While it runs, reset refuses.
          const refused = await inNs(node, weavetsBin(), "reset");
          assert.equal(refused.code, 3);
          assert.match(refused.stderr, /a daemon is running/);
        } finally {
          daemon.kill("SIGTERM");
          await daemon.status;
          await log.cancel().catch(() => {});
        }
      }
      const r = await inNs(node, weavetsBin(), "reset", "--data", `--datadir=${tmp}/data`);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /removed device weave/);
      assert.equal(await ruleset(node), before.rules);
      assert.deepEqual(await linkNames(node), before.links);
      assert.throws(() => Deno.statSync(`${tmp}/data`), Deno.errors.NotFound);
      Deno.removeSync(tmp, { recursive: true });
    }),
});
