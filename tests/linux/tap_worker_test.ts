/** A TAP opened inside a namespace is read from a Worker through the raw fd (synchronous FFI). */
import assert from "node:assert/strict";
import { IS_ROOT, withNamespaces } from "../harness/netns.ts";
import {
  addAddress,
  closeTap,
  getLink,
  inNetns,
  openTap,
  sendGratuitousArp,
  setLinkUp,
  writeSysctl,
} from "../../net/linux/mod.ts";
import { netnsPath, PREFIX } from "./helpers.ts";

Deno.test({
  name: "a Worker reads frames from a TAP fd opened in another namespace",
  ignore: !IS_ROOT,
}, async () => {
  await withNamespaces(PREFIX, async (ns) => {
    const path = netnsPath(ns.add());
    const { tap, mac } = inNetns(path, () => {
      const tap = openTap("tapw0");
      writeSysctl("net/ipv6/conf/tapw0/disable_ipv6", "1");
      addAddress("tapw0", "10.9.3.1/24");
      setLinkUp("tapw0");
      return { tap, mac: getLink("tapw0").mac };
    });
    const worker = new Worker(new URL("./tap_worker.ts", import.meta.url), { type: "module" });
    try {
      const reply = new Promise<{ frame?: Uint8Array; error?: string }>((resolve) => {
        worker.onmessage = (e) => resolve(e.data);
      });
      worker.postMessage({ fd: tap.fd });
      inNetns(path, () => sendGratuitousArp("tapw0", "10.9.3.1"));
      const got = await reply;
      assert.equal(got.error, undefined);
      const frame = got.frame!;
      const hex = (b: Uint8Array) =>
        Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(":");
      assert.equal(hex(frame.subarray(6, 12)), mac, "sent from the tap's MAC");
      assert.deepEqual(Array.from(frame.subarray(28, 32)), [10, 9, 3, 1], "announcing its IP");
    } finally {
      worker.terminate();
      closeTap(tap);
    }
  });
});
