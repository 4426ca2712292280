/**
 * The CNI plugin end to end: the real binary, exactly as a runtime runs it (stripped environment,
 * CNI_* variables, config on stdin), inside throwaway "node" and "pod" namespaces; `ip -j` is the
 * oracle. IPAM is the reference host-local plugin (delegation) or the real IPAM service of the
 * daemon (tests/ipam/ipam_daemon.ts).
 */
import assert from "node:assert/strict";
import { IS_ROOT, withNamespaces } from "../harness/netns.ts";
import { REPO_ROOT } from "../harness/binary.ts";
import { captureOneArp, HAS_TCPDUMP } from "../harness/capture.ts";
import { sh } from "../harness/sh.ts";
import {
  listPendingReleases,
  pendingDirFor,
  type PendingRelease,
  recordName,
} from "../../cni/pending.ts";
import {
  cni,
  execPlugin,
  HAS_HOST_LOCAL,
  hostLocal,
  hostVeths,
  IpamDaemon,
  ipv4Of,
  links,
  PLUGIN_DIRS,
  pluginNamed,
  relocatedLauncher,
  routes,
} from "./plugin.ts";

const PREFIX = "wtc";
const HAS_BRIDGE = (() => {
  try {
    return Deno.statSync("/usr/lib/cni/bridge").isFile;
  } catch {
    return false;
  }
})();
const ignore = !IS_ROOT || !HAS_HOST_LOCAL;
if (IS_ROOT && !HAS_HOST_LOCAL) {
  console.error(
    "tests/cni: skipped: /usr/lib/cni/host-local missing " +
      "(apt-get install containernetworking-plugins)",
  );
}

function dataDir(): string {
  const d = `${REPO_ROOT}/.tmp/wtc-hostlocal-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  Deno.mkdirSync(d, { recursive: true });
  return d;
}

/** The addresses host-local holds (one file per address in its data directory). */
function leases(dir: string): string[] {
  try {
    return [...Deno.readDirSync(`${dir}/wtcnet`)].map((e) => e.name).filter((n) => /^\d/.test(n));
  } catch {
    return [];
  }
}

if (IS_ROOT && !HAS_TCPDUMP) {
  console.error(
    "tests/cni: tcpdump missing: the gratuitous ARP is not checked (apt-get install tcpdump)",
  );
}

function conf(extra: Record<string, unknown>): Record<string, unknown> {
  return { cniVersion: "1.0.0", name: "wtcnet", type: "weavets", ...extra };
}

Deno.test({
  name:
    "cni e2e: ADD wires the pod (ip -j), CHECK passes then catches a removed address, DEL twice",
  ignore,
  async fn() {
    const dir = dataDir();
    try {
      await withNamespaces(PREFIX, async (ns) => {
        const node = ns.add("node");
        const pod = ns.add("pod");
        const c = conf({ mtu: 1400, ipam: hostLocal("10.77.0.0/24", dir) });
        const call = {
          node,
          conf: c,
          containerId: "c0ffee01",
          netns: `/run/netns/${pod}`,
          ifname: "eth0",
        };

        const add = await cni("ADD", call);
        assert.equal(add.code, 0, add.stdout + add.stderr);
        const r = add.json as {
          cniVersion: string;
          interfaces: { name: string; mac: string; sandbox?: string }[];
          ips: { address: string; gateway: string; interface: number }[];
          routes: { dst: string; gw: string }[];
        };
        assert.equal(r.cniVersion, "1.0.0");
        const [bridgeIf, hostIf, podIf] = r.interfaces;
        assert.equal(bridgeIf.name, "weave");
        assert.match(hostIf.name, /^vethwepl[0-9a-v]{7}$/);
        assert.deepEqual([podIf.name, podIf.sandbox], ["eth0", `/run/netns/${pod}`]);
        assert.deepEqual(r.ips, [{ address: "10.77.0.2/24", gateway: "10.77.0.1", interface: 2 }]);
        assert.deepEqual(r.routes, [{ dst: "0.0.0.0/0", gw: "10.77.0.1" }]);

        // The oracle: bridge with the gateway address and MTU, host end on it, pod end configured.
        const nodeLinks = await links(node);
        const br = nodeLinks.find((l) => l.ifname === "weave")!;
        const veth = nodeLinks.find((l) => l.ifname === hostIf.name)!;
        assert.equal(br.mtu, 1400);
        assert.equal(veth.master, "weave");
        assert.equal(veth.mtu, 1400);
        assert.deepEqual(await ipv4Of(node, "weave"), ["10.77.0.1/24"]);
        const podLink = (await links(pod)).find((l) => l.ifname === "eth0")!;
        assert.equal(podLink.address, podIf.mac);
        assert.equal(podLink.mtu, 1400);
        assert.equal(podLink.operstate, "UP");
        assert.deepEqual(await ipv4Of(pod, "eth0"), ["10.77.0.2/24"]);
        const podRoutes = await routes(pod);
        assert.ok(podRoutes.some((x) => x.dst === "default" && x.gateway === "10.77.0.1"));
        const hairpin = JSON.parse(
          await sh("ip", "-n", node, "-j", "-d", "link", "show", hostIf.name),
        );
        assert.equal(hairpin[0].linkinfo.info_slave_data.hairpin, true);
        // The pod reaches its gateway over the bridge.
        await sh("ip", "netns", "exec", pod, "busybox", "ping", "-c1", "-W2", "10.77.0.1");

        const prevConf = { ...c, prevResult: add.json };
        const ok = await cni("CHECK", { ...call, conf: prevConf });
        assert.equal(ok.code, 0, ok.stdout + ok.stderr);
        assert.equal(ok.stdout, "");

        await sh("ip", "-n", pod, "addr", "del", "10.77.0.2/24", "dev", "eth0");
        const bad = await cni("CHECK", { ...call, conf: prevConf });
        assert.notEqual(bad.code, 0);
        assert.equal(bad.json.code, 100);
        assert.match(String(bad.json.msg), /address 10\.77\.0\.2\/24 is missing from "eth0"/);

        for (let i = 0; i < 2; i++) {
          const d = await cni("DEL", { ...call, conf: prevConf });
          assert.equal(d.code, 0, `DEL #${i + 1}: ${d.stdout}${d.stderr}`);
          assert.equal(d.stdout, "");
        }
        assert.deepEqual(await hostVeths(node), []);
        assert.equal((await links(pod)).find((l) => l.ifname === "eth0"), undefined);
        assert.deepEqual(leases(dir), [], "host-local still holds the address");

        // A pod MTU above the bridge's (the overlay's path MTU) is refused, leaving nothing.
        const big = await cni("ADD", {
          ...call,
          containerId: "c0ffee02",
          conf: { ...c, mtu: 9000 },
        });
        assert.equal(big.json.code, 7, big.stdout + big.stderr);
        assert.match(
          String(big.json.msg),
          /"mtu" 9000 is larger than the weave bridge's MTU \d+ \(the overlay's path MTU\)/,
        );
        assert.deepEqual(await hostVeths(node), []);
        assert.deepEqual(leases(dir), [], "the refused ADD released its address");
      });
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "cni e2e: DEL after the pod's netns is deleted releases the address; ADD failure undoes",
  ignore,
  async fn() {
    const dir = dataDir();
    try {
      await withNamespaces(PREFIX, async (ns) => {
        const node = ns.add("node");
        const pod = ns.add("pod");
        const c = conf({ ipam: hostLocal("10.78.0.0/24", dir) });
        const call = {
          node,
          conf: c,
          containerId: "dead01",
          netns: `/run/netns/${pod}`,
          ifname: "eth0",
        };
        const added = await cni("ADD", call);
        assert.equal(added.code, 0);
        await sh("ip", "netns", "delete", pod);
        // CHECK of a container whose namespace is gone: error 3, unknown container.
        const gone = await cni("CHECK", { ...call, conf: { ...c, prevResult: added.json } });
        assert.equal(gone.json.code, 3, gone.stdout);
        assert.match(String(gone.json.msg), /network namespace .* does not exist/);
        const d = await cni("DEL", call);
        assert.equal(d.code, 0, d.stdout + d.stderr);
        const d2 = await cni("DEL", { ...call, netns: "" });
        assert.equal(d2.code, 0, d2.stdout + d2.stderr);
        assert.deepEqual(await hostVeths(node), []);
        assert.deepEqual(leases(dir), [], "host-local still holds an address");

        // ADD into a namespace that already has "eth0": fails, leaves no veth, releases the address.
        const pod2 = ns.add("pod");
        await sh("ip", "-n", pod2, "link", "add", "eth0", "type", "veth", "peer", "name", "other");
        const bad = await cni("ADD", {
          ...call,
          containerId: "dead02",
          netns: `/run/netns/${pod2}`,
        });
        assert.equal(bad.code, 1);
        assert.equal(bad.json.code, 5);
        assert.match(
          String(bad.json.msg),
          /interface "eth0" already exists in \/run\/netns\/.*CNI_IFNAME/,
        );
        assert.deepEqual(await hostVeths(node), []);
        assert.deepEqual(leases(dir), [], "a failed ADD kept its address");

        // GC (1.1.0) with valid-attachments [] removes the stray host veth; host-local 1.1.1
        // cannot GC, so it is skipped with a note on stderr and GC still succeeds.
        const pod3 = ns.add("pod");
        const stray = { ...call, containerId: "stray01", netns: `/run/netns/${pod3}` };
        assert.equal((await cni("ADD", stray)).code, 0);
        assert.equal((await hostVeths(node)).length, 1);
        const gcConf = { ...c, cniVersion: "1.1.0", "cni.dev/valid-attachments": [] };
        const g = await cni("GC", { node, conf: gcConf });
        assert.equal(g.code, 0, g.stdout + g.stderr);
        assert.match(g.stderr, /"host-local" does not speak cniVersion 1\.1\.0; skipped/);
        assert.deepEqual(await hostVeths(node), []);
        assert.equal((await cni("DEL", stray)).code, 0);
        assert.deepEqual(leases(dir), []);
      });
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "cni e2e: 20 concurrent ADDs get distinct addresses; 20 DELs leave nothing",
  ignore,
  async fn() {
    const dir = dataDir();
    try {
      await withNamespaces(PREFIX, async (ns) => {
        const node = ns.add("node");
        const pods = Array.from({ length: 20 }, () => ns.add("p"));
        const c = conf({ ipam: hostLocal("10.80.0.0/24", dir) });
        const call = (i: number) => ({
          node,
          conf: c,
          containerId: `conc${i}`,
          netns: `/run/netns/${pods[i]}`,
          ifname: "eth0",
        });
        const adds = await Promise.all(pods.map((_, i) => cni("ADD", call(i))));
        for (const a of adds) assert.equal(a.code, 0, a.stdout + a.stderr);
        const addrs = adds.map((a) => (a.json.ips as { address: string }[])[0].address);
        assert.equal(new Set(addrs).size, 20, `duplicate addresses: ${addrs}`);
        for (let i = 0; i < 20; i++) assert.deepEqual(await ipv4Of(pods[i], "eth0"), [addrs[i]]);
        assert.equal((await hostVeths(node)).length, 20);
        const dels = await Promise.all(pods.map((_, i) => cni("DEL", call(i))));
        for (const d of dels) assert.equal(d.code, 0, d.stdout + d.stderr);
        assert.deepEqual(await hostVeths(node), []);
        for (const p of pods) assert.equal((await links(p)).length, 1, "only lo is left");
        assert.deepEqual(leases(dir), []);
      });
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

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

Deno.test({
  name: "cni e2e: Weave Net drop-in: Weave's conflist entry through the weave-net name, Weave's " +
    "IPAM keys (subnet, gateway, routes), and weave-ipam as the IPAM of the reference bridge",
  ignore: !IS_ROOT || !HAS_BRIDGE,
  async fn() {
    const dir = pluginNamed("weave-net", "weave-ipam");
    try {
      await withNamespaces(PREFIX, async (ns) => {
        const node = ns.add("node");
        const pods = [ns.add("pod"), ns.add("pod"), ns.add("pod")];
        const daemon = new IpamDaemon(node, "10.42.0.0/16");
        await daemon.start();
        try {
          // Weave's daemon address is WEAVE_HTTP_ADDR, as for Weave's plugin.
          const extraEnv = { WEAVE_HTTP_ADDR: daemon.address };
          const path = `${dir}:${PLUGIN_DIRS}`;
          const call = (i: number, conf: Record<string, unknown>) => ({
            node,
            conf,
            containerId: `weave${i}`,
            netns: `/run/netns/${pods[i]}`,
            ifname: "eth0",
            extraEnv,
            path,
          });
          // Weave Net 2.8.1's conflist entry, unchanged.
          const weave = {
            cniVersion: "0.3.0",
            name: "weave",
            type: "weave-net",
            hairpinMode: true,
          };
          const a = await execPlugin(`${dir}/weave-net`, "ADD", call(0, weave));
          assert.equal(a.code, 0, a.stdout + a.stderr);
          const ip0 = (a.json.ips as { address: string }[])[0].address;
          assert.deepEqual(await ipv4Of(pods[0], "eth0"), [ip0]);

          // Weave's own IPAM keys: an address in `subnet`, Weave's gateway and routes.
          const keyed = {
            ...weave,
            ipam: {
              subnet: "10.42.7.0/24",
              gateway: "10.42.7.254",
              routes: [{ dst: "10.96.0.0/12" }, { dst: "0.0.0.0/0" }],
            },
          };
          const b = await execPlugin(`${dir}/weave-net`, "ADD", call(1, keyed));
          assert.equal(b.code, 0, b.stdout + b.stderr);
          const ip1 = (b.json.ips as { address: string; gateway: string }[])[0];
          assert.match(ip1.address, /^10\.42\.7\.\d+\//);
          assert.equal(ip1.gateway, "10.42.7.254");
          const podRoutes = await routes(pods[1]);
          for (const dst of ["default", "10.96.0.0/12"]) {
            assert.ok(
              podRoutes.some((r) => r.dst === dst && r.gateway === "10.42.7.254"),
              `${dst} via Weave's gateway: ${JSON.stringify(podRoutes)}`,
            );
          }

          // weave-ipam as the IPAM of another plugin (the reference bridge, which execs it).
          const bridge = {
            cniVersion: "1.0.0",
            name: "wtcbr",
            type: "bridge",
            bridge: "wtcbr0",
            isGateway: true,
            ipam: { type: "weave-ipam", subnet: "10.42.9.0/24", gateway: "10.42.9.1" },
          };
          const br = await execPlugin("/usr/lib/cni/bridge", "ADD", call(2, bridge));
          assert.equal(br.code, 0, br.stdout + br.stderr);
          const ip2 = (br.json.ips as { address: string }[])[0].address;
          assert.match(ip2, /^10\.42\.9\.\d+\//);
          assert.deepEqual(await ipv4Of(pods[2], "eth0"), [ip2]);
          // As Weave Net, an address in `subnet` has that subnet's prefix (GET /ip lists the range's).
          assert.match(ip1.address, /\/24$/);
          const bare = (cidr: string) => cidr.split("/")[0];
          assert.deepEqual(
            (await daemon.allocations()).filter((a) => !a.startsWith("weave:"))
              .map((a) => bare(a)),
            [
              `weave0 eth0=${bare(ip0)}`,
              `weave1 eth0=${bare(ip1.address)}`,
              `weave2 eth0=${bare(ip2)}`,
            ],
          );

          // DEL through each: every address is released.
          assert.equal((await execPlugin(`${dir}/weave-net`, "DEL", call(0, weave))).code, 0);
          assert.equal((await execPlugin(`${dir}/weave-net`, "DEL", call(1, keyed))).code, 0);
          const d = await execPlugin("/usr/lib/cni/bridge", "DEL", call(2, bridge));
          assert.equal(d.code, 0, d.stdout + d.stderr);
          assert.deepEqual(
            (await daemon.allocations()).filter((a) => !a.startsWith("weave:")),
            [],
          );
          assert.deepEqual(await hostVeths(node), []);
        } finally {
          await daemon.stop();
        }
      });
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test("pluginNamed's launcher copy: a relative lib= resolved against the original's directory, a compiled binary or absolute launcher untouched", () => {
  const dir = Deno.makeTempDirSync({ prefix: "wtc-launcher-" });
  try {
    Deno.mkdirSync(`${dir}/bin`);
    const relative = '#!/bin/sh\nself=$0\nlib=${self%/*}/../lib/weavets\nexec "$lib/deno"\n';
    Deno.writeTextFileSync(`${dir}/bin/weavets`, relative, { mode: 0o755 });
    const real = Deno.realPathSync(`${dir}/bin`);
    assert.equal(
      relocatedLauncher(`${dir}/bin/weavets`),
      relative.replace("lib=${self%/*}/../lib/weavets", `lib='${real}/../lib/weavets'`),
    );
    // Negative controls: an absolute lib= (install.sh's CNI copy) and a binary stay as they are.
    Deno.writeTextFileSync(`${dir}/bin/abs`, "#!/bin/sh\nlib='/opt/x'\n", { mode: 0o755 });
    assert.equal(relocatedLauncher(`${dir}/bin/abs`), undefined);
    Deno.writeFileSync(`${dir}/bin/elf`, new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 0x02]));
    assert.equal(relocatedLauncher(`${dir}/bin/elf`), undefined);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
