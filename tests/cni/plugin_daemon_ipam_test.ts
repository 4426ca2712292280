/**
 * The CNI plugin end to end with the daemon's IPAM (the real net/ipam service,
 * tests/ipam/ipam_daemon.ts): results in every version, MAC, DNS, the gratuitous ARP; STATUS and
 * the pending releases of a DEL the daemon could not take.
 */
import assert from "node:assert/strict";
import { IS_ROOT, withNamespaces } from "../harness/netns.ts";
import { captureOneArp, HAS_TCPDUMP } from "../harness/capture.ts";
import {
  listPendingReleases,
  pendingDirFor,
  type PendingRelease,
  recordName,
} from "../../cni/pending.ts";
import { cni, hostVeths, IpamDaemon, ipv4Of, links } from "./plugin.ts";
import { conf, PREFIX } from "./plugin_fixture.ts";

if (IS_ROOT && !HAS_TCPDUMP) {
  console.error(
    "tests/cni: tcpdump missing: the gratuitous ARP is not checked (apt-get install tcpdump)",
  );
}

Deno.test({
  name: "cni e2e: daemon IPAM (the real net/ipam service): results in every version, MAC, DNS, " +
    "claims, CHECK, GC, DEL; a second ADD of a live pod leaves its address alone",
  ignore: !IS_ROOT,
  async fn() {
    await withNamespaces(PREFIX, async (ns) => {
      const node = ns.add("node");
      const daemon = new IpamDaemon(node, "10.40.0.0/16");
      await daemon.start();
      try {
        const pods = [ns.add("pod"), ns.add("pod"), ns.add("pod"), ns.add("pod")];
        const c = conf({ cniVersion: "1.1.0", daemonAddress: daemon.address });
        const call = (i: number, extra: Record<string, unknown> = {}) => ({
          node,
          conf: { ...c, ...extra },
          containerId: `real${i}`,
          netns: `/run/netns/${pods[i]}`,
          ifname: "eth0",
        });

        // Each pod added with a different cniVersion gets its result in that version.
        const versions = [["0.3.1", "0.3.1"], ["0.4.0", "0.4.0"], ["1.1.0", "1.1.0"]];
        const results: Record<string, unknown>[] = [];
        for (let i = 0; i < 3; i++) {
          // The first also asks for a MAC (capability "mac") and DNS settings.
          const extra = i === 0
            ? { runtimeConfig: { mac: "0a:58:0a:4f:00:99" }, dns: { nameservers: ["10.96.0.10"] } }
            : {};
          // From the second pod on the bridge exists: watch it for the pod's gratuitous ARP.
          const arp = i === 1 && HAS_TCPDUMP ? await captureOneArp(node, "weave") : undefined;
          const a = await cni("ADD", call(i, { cniVersion: versions[i][0], ...extra }));
          assert.equal(a.code, 0, a.stdout + a.stderr);
          if (arp) {
            const ip = (a.json.ips as { address: string }[])[0].address.split("/")[0];
            assert.match(await arp.done, new RegExp(`Request who-has ${ip} tell ${ip}`));
          }
          assert.equal(a.json.cniVersion, versions[i][1]);
          results.push(a.json);
        }
        const ipOf = (r: Record<string, unknown>) => (r.ips as { address: string }[])[0].address;
        const gw = (results[0].ips as { gateway: string }[])[0].gateway;
        // The bridge got the daemon's "weave:expose" address, after the first pod's.
        assert.deepEqual(await ipv4Of(node, "weave"), [`${gw}/16`]);
        assert.deepEqual(
          await daemon.allocations(),
          [
            `real0 eth0=${ipOf(results[0])}`,
            `weave:expose =${gw}/16`,
            `real1 eth0=${ipOf(results[1])}`,
            `real2 eth0=${ipOf(results[2])}`,
          ].sort(),
        );
        assert.deepEqual(results[0].ips, [
          { version: "4", address: ipOf(results[0]), gateway: gw, interface: 2 },
        ]);
        assert.equal((results[2].ips as Record<string, unknown>[])[0].version, undefined);
        assert.equal(
          (await links(pods[0])).find((l) => l.ifname === "eth0")!.address,
          "0a:58:0a:4f:00:99",
        );
        assert.deepEqual(results[0].dns, { nameservers: ["10.96.0.10"] });
        assert.deepEqual(results[1].dns, {});
        assert.deepEqual(await ipv4Of(pods[0], "eth0"), [ipOf(results[0])]);

        // A second ADD of a live pod is refused and leaves its address and interface alone.
        const again = await cni("ADD", call(1));
        assert.equal(again.json.code, 5, again.stdout);
        assert.match(String(again.json.msg), /already exists: this container was added before/);
        assert.ok((await daemon.allocations()).includes(`real1 eth0=${ipOf(results[1])}`));
        assert.deepEqual(await ipv4Of(pods[1], "eth0"), [ipOf(results[1])]);
        assert.equal((await hostVeths(node)).length, 3);

        // CHECK passes; once the daemon no longer holds the address it says so.
        const prev = { prevResult: results[2] };
        const ok = await cni("CHECK", call(2, prev));
        assert.equal(ok.code, 0, ok.stdout + ok.stderr);
        await daemon.request("DELETE", "/ip/real2?ifname=eth0");
        const lost = await cni("CHECK", call(2, prev));
        assert.equal(lost.json.code, 100);
        assert.match(String(lost.json.msg), new RegExp(`no longer holds ${ipOf(results[2])}`));

        // A requested address (CNI_ARGS IP=, as podman --ip sends it) is claimed.
        const claimed = await cni("ADD", { ...call(3), args: "IgnoreUnknown=1;IP=10.40.0.50" });
        assert.equal(claimed.code, 0, claimed.stdout + claimed.stderr);
        assert.equal(ipOf(claimed.json), "10.40.0.50/16");
        assert.deepEqual(await ipv4Of(pods[3], "eth0"), ["10.40.0.50/16"]);

        // GC: only real0 is valid: the others' allocations go, so do their host veths.
        assert.equal((await hostVeths(node)).length, 4);
        const valid = [{ containerID: "real0", ifname: "eth0" }];
        const g = await cni("GC", { node, conf: { ...c, "cni.dev/valid-attachments": valid } });
        assert.equal(g.code, 0, g.stdout + g.stderr);
        assert.equal((await hostVeths(node)).length, 1);
        assert.deepEqual(await daemon.allocations(), [
          `real0 eth0=${ipOf(results[0])}`,
          `weave:expose =${gw}/16`,
        ]);

        // DEL twice.
        assert.equal((await cni("DEL", call(0))).code, 0);
        assert.equal((await cni("DEL", call(0))).code, 0);
        assert.deepEqual(await daemon.allocations(), [`weave:expose =${gw}/16`]);
        assert.deepEqual(await hostVeths(node), []);
      } finally {
        await daemon.stop();
      }
    });
  },
});

Deno.test({
  name: "cni e2e: STATUS (real IPAM service): ready 0, not ready 50, no connection to the peers " +
    "it dials 51; the daemon gone: DEL succeeds and keeps the release, ADD 11, STATUS 50",
  ignore: !IS_ROOT,
  async fn() {
    await withNamespaces(PREFIX, async (ns) => {
      const node = ns.add("node");
      const pod = ns.add("pod");
      const status = async (d: IpamDaemon) =>
        await cni("STATUS", {
          node,
          conf: conf({ cniVersion: "1.1.0", daemonAddress: d.address }),
        });
      // Waiting for a consensus of 2 it never gets: not ready.
      const waiting = new IpamDaemon(node, "10.41.0.0/16", { init: "consensus=2" });
      await waiting.start();
      try {
        const r = await status(waiting);
        assert.equal(r.json.code, 50, r.stdout);
        assert.match(String(r.json.msg), /not ready to set up pods: .*consensus/);
      } finally {
        await waiting.stop();
      }
      // Ready, dialling a peer that never answers (a closed port): limited connectivity.
      const cut = new IpamDaemon(node, "10.41.0.0/16", { peers: ["127.0.0.1:9"] });
      await cut.start();
      try {
        const r = await status(cut);
        assert.equal(r.json.code, 51, r.stdout);
        assert.match(
          String(r.json.msg),
          /no connection to any other peer \(trying 127\.0\.0\.1:9\)/,
        );
      } finally {
        await cut.stop();
      }

      const daemon = new IpamDaemon(node, "10.41.0.0/16");
      await daemon.start();
      const c = conf({ cniVersion: "1.1.0", daemonAddress: daemon.address });
      const call = {
        node,
        conf: c,
        containerId: "gone0",
        netns: `/run/netns/${pod}`,
        ifname: "eth0",
      };
      try {
        assert.equal((await status(daemon)).code, 0);
        const a = await cni("ADD", call);
        assert.equal(a.code, 0, a.stdout + a.stderr);
        await daemon.stop(false);
        // DEL with the daemon gone: the interface goes, the release is kept, DEL succeeds.
        const d = await cni("DEL", call);
        assert.equal(d.code, 0, d.stdout + d.stderr);
        assert.match(d.stderr, /the release is kept in .* until the daemon takes it/);
        assert.deepEqual(await hostVeths(node), []);
        const kept = listPendingReleases(pendingDirFor(`/run/netns/${node}`));
        assert.deepEqual(kept.map((e) => e.name), [recordName("gone0", "eth0")]);
        const rec = kept[0].record as PendingRelease;
        assert.deepEqual([rec.id, rec.ifname, rec.daemon], ["gone0", "eth0", daemon.address]);
        // ADD without a daemon: error 11 and nothing left behind; STATUS 50.
        const again = await cni("ADD", { ...call, containerId: "gone1" });
        assert.equal(again.json.code, 11, again.stdout);
        assert.deepEqual(await hostVeths(node), []);
        assert.equal((await status(daemon)).json.code, 50);
      } finally {
        await daemon.stop();
      }
    });
  },
});
