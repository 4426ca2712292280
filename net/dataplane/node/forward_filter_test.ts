import assert from "node:assert/strict";
import { Logger } from "../../log.ts";
import { FORWARD_MARK } from "./firewall.ts";
import { createForwardFilter, type ForwardIo } from "./forward_filter.ts";

/** A fake kernel: iptables-nft's FORWARD chain, and whether our rules and table are in it. */
function fakeKernel() {
  const k = { applied: false, scripts: [] as string[], legacy: [] as string[][] };
  const io: ForwardIo = {
    nft(script) {
      const chain = (family: string, table: string, name: string) => ({
        chain: { family, table, name, hook: "forward", policy: "drop" },
      });
      if (script === "list chains") {
        const own = k.applied ? [chain("inet", "weavets_forward", "forward")] : [];
        return JSON.stringify({ nftables: [chain("ip", "filter", "FORWARD"), ...own] });
      }
      if (script === "list chain ip filter FORWARD") {
        const rule = (handle: number) => ({
          rule: { family: "ip", table: "filter", chain: "FORWARD", handle, comment: FORWARD_MARK },
        });
        return JSON.stringify({ nftables: k.applied ? [rule(7), rule(8)] : [] });
      }
      if (script.startsWith("list table")) return JSON.stringify({ nftables: [] });
      k.scripts.push(script);
      k.applied = !script.includes("delete table inet weavets_forward\n") ||
        script.includes("table inet weavets_forward {");
      return "";
    },
    ipTablesNames: () => null,
    iptablesLegacy(args) {
      k.legacy.push(args);
      return Promise.resolve({ code: 0, stderr: "" });
    },
  };
  return { k, io };
}

function memoryLog() {
  const lines: string[] = [];
  return { lines, log: new Logger({ json: true, sink: { write: (l) => lines.push(l) } }) };
}

Deno.test("forward filter: applied at start, put back by the check when removed from outside", async () => {
  const { k, io } = fakeKernel();
  const { lines, log } = memoryLog();
  const f = createForwardFilter({ bridge: "weave", io, log, checkMs: 3_600_000 });
  await f.start();
  try {
    assert.equal(k.scripts.length, 1);
    assert.match(k.scripts[0], /insert rule ip filter FORWARD iifname "weave"/);
    await f.check();
    assert.equal(k.scripts.length, 1, "nothing to do while the rules are there");
    assert.ok(!lines.some((l) => l.includes("put in place again")));
    k.applied = false; // iptables-restore of the filter table, a firewall reload…
    await f.check();
    assert.equal(k.scripts.length, 2);
    assert.ok(lines.some((l) => l.includes("put in place again")));
    assert.deepEqual(k.legacy, [], "legacy iptables not in use: not run");
  } finally {
    f.stop();
  }
});

Deno.test("forward filter: a failure at start is logged, not fatal, and the check retries", async () => {
  const { k, io } = fakeKernel();
  const { lines, log } = memoryLog();
  let fail = true;
  const flaky: typeof io = {
    ...io,
    nft(script, opts) {
      if (fail && !script.startsWith("list")) throw new Error("nft refused the change: busy");
      return io.nft(script, opts);
    },
  };
  const f = createForwardFilter({ bridge: "weave", io: flaky, log, checkMs: 3_600_000 });
  await f.start();
  try {
    assert.ok(lines.some((l) => l.includes("cannot put the forward accept rules in place yet")));
    assert.equal(k.scripts.length, 0);
    // Failing checks: counted each time, logged once a minute.
    await f.check();
    await f.check();
    assert.equal((f.report() as { failedChecks: number }).failedChecks, 2);
    assert.equal(lines.filter((l) => l.includes("cannot check the forward")).length, 1);
    fail = false;
    await f.check();
    assert.equal(k.scripts.length, 1);
  } finally {
    f.stop();
  }
});
