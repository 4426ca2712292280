/**
 * 200 veth pairs into 200 namespaces, created and deleted: no leftovers, time per pair printed
 * (no timing assertion: 2 shared cores make absolute numbers noisy).
 */
import assert from "node:assert/strict";
import { IS_ROOT, withNamespaces } from "../harness/netns.ts";
import { ipJson, shSync } from "../harness/sh.ts";
import {
  createNetns,
  createVeth,
  deleteLink,
  deleteNetns,
  inNetns,
  listLinks,
  netnsExists,
  netnsPath,
} from "../../net/linux/mod.ts";
import { ipLinks, PREFIX } from "./helpers.ts";

const PAIRS = Number(Deno.env.get("WTL_SCALE_PAIRS") ?? 200);

Deno.test({
  name: `${PAIRS} veth pairs into ${PAIRS} namespaces: created, deleted, no leftovers`,
  ignore: !IS_ROOT,
}, async () => {
  await withNamespaces(PREFIX, async (ns) => {
    const host = ns.add("host");
    const hostPath = netnsPath(host);
    const base = `${PREFIX}${Deno.pid}-s`;
    const names = Array.from({ length: PAIRS }, (_, i) => `${base}${i}`);
    const made: string[] = [];
    const ms = (t0: number) => performance.now() - t0;
    try {
      let t = performance.now();
      for (const n of names) {
        createNetns(n);
        made.push(n);
      }
      const tNetns = ms(t);

      t = performance.now();
      inNetns(hostPath, () => {
        names.forEach((n, i) =>
          createVeth(`vs${i}`, "eth0", { peerNetns: netnsPath(n), mtu: 1376 })
        );
      });
      const tCreate = ms(t);

      // Oracle: every host end is a veth whose peer lives in another namespace.
      const hostLinks = (await ipLinks(host)).filter((l) => l.ifname !== "lo");
      assert.equal(hostLinks.length, PAIRS);
      assert.ok(
        hostLinks.every((l) =>
          l.linkinfo?.info_kind === "veth" && l.link_netnsid !== undefined && l.mtu === 1376
        ),
      );
      for (const n of names.filter((_, i) => i % 20 === 0)) {
        const peer = await ipJson<{ ifname: string; mtu: number }[]>(n, "link", "show", "eth0");
        assert.deepEqual(peer.map((l) => [l.ifname, l.mtu]), [["eth0", 1376]], n);
      }
      // A dump spanning several netlink reads lists every host end.
      const ours = inNetns(hostPath, () => listLinks()).filter((l) => l.name !== "lo");
      assert.deepEqual(
        ours.map((l) => [l.index, l.name]),
        hostLinks.map((l) => [l.ifindex, l.ifname]),
      );
      // Our own view agrees for every namespace.
      for (const n of names) {
        assert.deepEqual(inNetns(netnsPath(n), () => listLinks().map((l) => l.name)), [
          "lo",
          "eth0",
        ], n);
      }

      t = performance.now();
      inNetns(hostPath, () => names.forEach((_, i) => deleteLink(`vs${i}`)));
      const tDelete = ms(t);

      // Deleting the host end removed each peer.
      for (const n of names.filter((_, i) => i % 20 === 0)) {
        assert.deepEqual(
          (await ipJson<{ ifname: string }[]>(n, "link", "show")).map((l) => l.ifname),
          ["lo"],
          n,
        );
      }

      t = performance.now();
      for (const n of names) {
        deleteNetns(n);
        made.splice(made.indexOf(n), 1);
      }
      const tNetnsDelete = ms(t);

      assert.deepEqual(
        (await ipLinks(host)).map((l) => l.ifname),
        ["lo"],
        "no links left in the host namespace",
      );
      const left = (await ipJson<{ name: string }[]>(null, "netns", "list")).filter((x) =>
        x.name.startsWith(base)
      );
      assert.deepEqual(left, [], "no namespaces left");
      assert.ok(names.every((n) => !netnsExists(netnsPath(n))));

      const per = (x: number) => `${(x / PAIRS).toFixed(2)} ms`;
      console.log(
        `${PAIRS} pairs, per pair: createNetns ${per(tNetns)}, createVeth into netns ${
          per(tCreate)
        }, ` +
          `deleteLink ${per(tDelete)}, deleteNetns ${per(tNetnsDelete)}; ` +
          `total ${per(tNetns + tCreate + tDelete + tNetnsDelete)}`,
      );
    } finally {
      for (const n of made) {
        try {
          deleteNetns(n);
        } catch {
          shSync("ip", "netns", "delete", n);
        }
      }
    }
  });
});
