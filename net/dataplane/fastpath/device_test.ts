import assert from "node:assert/strict";
import { Logger } from "../../log.ts";
import { type DeviceOps, FastPathDevice, startDevice } from "./device.ts";

/** A fake kernel: one device that exists or not, every call recorded, failures on demand. */
function fakeKernel() {
  const k = {
    exists: false,
    calls: [] as string[],
    failEnsure: 0,
    failRemove: 0,
    fdb: [] as string[],
    ops: undefined as unknown as DeviceOps,
  };
  k.ops = {
    ensureVxlan: () => {
      k.calls.push("ensure");
      if (k.failEnsure-- > 0) throw new Error("netlink: refused");
      const was = k.exists;
      k.exists = true;
      return was ? [] : ["created vxlan-6784"];
    },
    removeVxlan: () => {
      k.calls.push("remove");
      if (k.failRemove-- > 0) throw new Error("netlink: busy");
      const was = k.exists;
      k.exists = false;
      k.fdb = [];
      return was ? ["removed vxlan-6784"] : [];
    },
    applySplitHorizon: () => Promise.resolve(),
    removeSplitHorizon: () => Promise.resolve(),
    fdbDestinations: () => k.exists ? [...k.fdb] : [],
    exists: () => k.exists,
    pruneFdb: (_name, keep) => {
      k.calls.push("prune");
      k.fdb = k.fdb.filter(keep);
    },
    nft: (script) => {
      k.calls.push(
        script.includes("elements") || script.includes("chain input")
          ? `guard ${/elements = \{ ([^}]*) \}/.exec(script)?.[1] ?? "-"}`.trim()
          : "unguard",
      );
    },
  };
  return k;
}

function device(k: ReturnType<typeof fakeKernel>, lines: string[] = [], guarded = false) {
  let changed = 0;
  const d = new FastPathDevice({
    setup: { name: "vxlan-6784", port: 6784, vni: 1, bridge: "weave", mtu: 1376 },
    tapName: "vethwe-tap",
    log: new Logger({ json: true, level: "debug", sink: { write: (l) => lines.push(l) } }),
    onChanged: () => changed++,
    guarded,
    ops: k.ops,
  });
  return { d, changes: () => changed };
}

Deno.test("fast path device: created when wanted, removed when not, each once", async () => {
  const k = fakeKernel();
  const lines: string[] = [];
  const { d, changes } = device(k, lines);
  await d.want(true);
  assert.ok(k.exists && d.up);
  assert.ok(lines.some((l) => /NOT encrypted/.test(l)), "said loudly: plaintext from now on");
  await d.want(true); // the same wish again: nothing to do
  assert.deepEqual(k.calls, ["unguard", "ensure"], "no password: a leftover filter goes");
  await d.want(false);
  assert.ok(!k.exists && !d.up);
  assert.deepEqual(k.calls, ["unguard", "ensure", "remove", "unguard"]);
  assert.equal(changes(), 2, "the caller re-plans after each transition");
});

Deno.test("fast path device: the latest wish wins when wishes come faster than the kernel", async () => {
  const k = fakeKernel();
  const { d } = device(k);
  const a = d.want(true);
  d.want(false);
  const last = d.want(true);
  await Promise.all([a, last]);
  assert.ok(k.exists && d.up);
  assert.deepEqual(k.calls, ["unguard", "ensure"], "the superseded removal never ran");
});

Deno.test("fast path device: a failed change is logged and tried again on the next wish", async () => {
  const k = fakeKernel();
  k.failEnsure = 1;
  const lines: string[] = [];
  const { d } = device(k, lines);
  await d.want(true);
  assert.ok(!d.up && !k.exists);
  assert.ok(lines.some((l) => /cannot set up the fast path device/.test(l)));
  await d.want(true);
  assert.ok(d.up && k.exists, "retried: the failure did not stick as 'done'");
  k.failRemove = 1;
  await d.want(false);
  assert.ok(k.exists, "the removal failed: the device is still there");
  assert.ok(!d.up, "no FDB is programmed onto a device on its way out");
  await d.want(false);
  assert.ok(!k.exists, "removal is tried again even though up was already false");
});

Deno.test("fast path device: guarded, the port's filter is written before the device and goes after it", async () => {
  const k = fakeKernel();
  const { d } = device(k, [], true);
  d.allow(["10.9.0.3", "10.9.0.2"]);
  assert.deepEqual(k.calls, [], "nothing written while the device is not wanted");
  await d.want(true);
  assert.deepEqual(k.calls, ["guard 10.9.0.2, 10.9.0.3", "ensure"]);
  d.allow(["10.9.0.2", "10.9.0.3"]);
  assert.equal(k.calls.length, 2, "the same set: not written again");
  d.allow(["10.9.0.2"]);
  assert.deepEqual(k.calls.slice(2), ["guard 10.9.0.2"], "a trusted peer gone: at once");
  await d.want(false);
  assert.deepEqual(k.calls.slice(3), ["remove", "unguard"]);
});

Deno.test("fast path device: a refused filter leaves no device (the port never opens unguarded)", async () => {
  const k = fakeKernel();
  k.ops.nft = () => {
    throw new Error("nft: Operation not permitted");
  };
  const lines: string[] = [];
  const { d } = device(k, lines, true);
  d.allow(["10.9.0.2"]);
  await d.want(true);
  assert.ok(!k.exists && !d.up);
  assert.ok(lines.some((l) => /cannot set up the fast path device/.test(l)));
});

Deno.test("fast path device: restarted with a password, kept only for trusted destinations", async () => {
  const trusted = (dst: string) => dst.startsWith("10.9.0.");
  const k = fakeKernel();
  k.exists = true;
  k.fdb = ["10.9.0.2", "172.16.0.3", "10.9.0.2"];
  const { d } = device(k, [], true);
  const r = await startDevice(d, { fastdp: true, encrypted: true, trusted });
  assert.deepEqual(r.adopted, ["10.9.0.2"]);
  assert.deepEqual(k.fdb, ["10.9.0.2", "10.9.0.2"], "the untrusted destination's entry deleted");
  assert.deepEqual(k.calls, ["prune", "guard 10.9.0.2", "ensure"], "pruned before anything");
  assert.ok(d.up && k.exists);
  await d.want(true);
  assert.equal(k.calls.length, 3, "already wanted: nothing more");

  // Nothing trusted left in it (say the subnets changed): removed at start.
  const k2 = fakeKernel();
  k2.exists = true;
  k2.fdb = ["172.16.0.3"];
  const r2 = await startDevice(device(k2, [], true).d, { fastdp: true, encrypted: true, trusted });
  assert.deepEqual(r2.adopted, []);
  assert.ok(!k2.exists);

  // No password: adopted whole (the unencrypted restart as before); fast path off: removed.
  const k3 = fakeKernel();
  k3.exists = true;
  k3.fdb = ["172.16.0.3"];
  const r3 = await startDevice(device(k3).d, { fastdp: true, encrypted: false, trusted });
  assert.deepEqual(r3.adopted, ["172.16.0.3"]);
  assert.ok(!k3.calls.includes("prune"));
  const k4 = fakeKernel();
  k4.exists = true;
  await startDevice(device(k4).d, { fastdp: false, encrypted: false, trusted });
  assert.ok(!k4.exists);
});

Deno.test("fast path device: a split-horizon rule that cannot be removed is a warning; the device still goes", async () => {
  const k = fakeKernel();
  const lines: string[] = [];
  const { d } = device(k, lines, false);
  await d.want(true);
  assert.ok(k.exists && d.up);
  k.ops.removeSplitHorizon = () => Promise.reject(new Error("nft: Operation not permitted"));
  await d.want(false);
  assert.ok(!k.exists && !d.up, "no plaintext path left");
  assert.ok(lines.some((l) => /cannot remove the fast path's split-horizon rule/.test(l)));
});
