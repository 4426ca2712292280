/**
 * The CNI plugin end to end: the real binary, exactly as a runtime runs it (stripped environment,
 * CNI_* variables, config on stdin), inside throwaway "node" and "pod" namespaces; `ip -j` is the
 * oracle. IPAM is the reference host-local plugin (delegation) or the fake daemon (a test double).
 */
import assert from "node:assert/strict";
import { IS_ROOT, withNamespaces } from "../harness/netns.ts";
import { REPO_ROOT } from "../harness/binary.ts";
import { captureOneArp, HAS_TCPDUMP } from "../harness/capture.ts";
import { sh } from "../harness/sh.ts";
import {
  cni,
  FakeDaemon,
  HAS_HOST_LOCAL,
  hostLocal,
  hostVeths,
  IpamDaemon,
  ipv4Of,
  links,
  routes,
} from "./plugin.ts";

const PREFIX = "wtc";
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
  name:
    "cni e2e: daemon IPAM (fake): ADD/CHECK/DEL keyed by id+ifname, results in every version, " +
    "GC, STATUS, and an unreachable daemon",
  ignore: !IS_ROOT,
  async fn() {
    await withNamespaces(PREFIX, async (ns) => {
      const node = ns.add("node");
      const daemon = new FakeDaemon(node, 6784, "10.79.0.0/16");
      await daemon.start();
      try {
        const pods = [ns.add("pod"), ns.add("pod"), ns.add("pod"), ns.add("pod")];
        const c = conf({ cniVersion: "1.1.0" });
        const call = (i: number, extra: Record<string, unknown> = {}) => ({
          node,
          conf: { ...c, ...extra },
          containerId: `pod${i}`,
          netns: `/run/netns/${pods[i]}`,
          ifname: "eth0",
        });

        // Versions: each pod added with a different cniVersion gets its result in that version.
        const versions = ["0.3.1", "0.4.0", "1.1.0"];
        const results = [];
        for (let i = 0; i < 3; i++) {
          // The first also asks for a MAC (capability "mac") and DNS settings.
          const extra = i === 0
            ? { runtimeConfig: { mac: "0a:58:0a:4f:00:99" }, dns: { nameservers: ["10.96.0.10"] } }
            : {};
          // From the second pod on the bridge exists: watch it for the pod's gratuitous ARP.
          const arp = i === 1 && HAS_TCPDUMP ? await captureOneArp(node, "weave") : undefined;
          const a = await cni("ADD", call(i, { cniVersion: versions[i], ...extra }));
          assert.equal(a.code, 0, a.stdout + a.stderr);
          if (arp) {
            const ip = (a.json.ips as { address: string }[])[0].address.split("/")[0];
            assert.match(await arp.done, new RegExp(`Request who-has ${ip} tell ${ip}`));
          }
          assert.equal(a.json.cniVersion, versions[i]);
          results.push(a.json);
        }
        // The bridge got the daemon's "weave:expose" address, after the first pod's.
        assert.deepEqual(await ipv4Of(node, "weave"), ["10.79.0.2/16"]);
        const ips0 = results[0].ips as Record<string, unknown>[];
        assert.deepEqual(ips0, [
          { version: "4", address: "10.79.0.1/16", gateway: "10.79.0.2", interface: 2 },
        ]);
        assert.equal((results[2].ips as Record<string, unknown>[])[0].version, undefined);
        assert.equal(
          (await links(pods[0])).find((l) => l.ifname === "eth0")!.address,
          "0a:58:0a:4f:00:99",
        );
        assert.deepEqual(results[0].dns, { nameservers: ["10.96.0.10"] });
        assert.deepEqual(results[1].dns, {});
        assert.equal((results[2].interfaces as Record<string, unknown>[])[2].mtu, 1500);
        const state = await daemon.state();
        assert.equal(state.allocations["pod0 eth0"], "10.79.0.1/16");
        assert.equal(state.allocations["weave:expose "], "10.79.0.2/16");

        // CHECK (1.1.0) passes; after the daemon lost the allocation it says so.
        const prev = { prevResult: results[2] };
        assert.equal((await cni("CHECK", call(2, prev))).code, 0);
        await daemon.request("DELETE", "/ip/pod2?ifname=eth0");
        const lost = await cni("CHECK", call(2, prev));
        assert.equal(lost.json.code, 100);
        assert.match(String(lost.json.msg), /no longer holds 10\.79\.0\.4\/16/);

        // A requested address (CNI_ARGS IP=, as podman --ip sends it) is claimed.
        const claimed = await cni("ADD", {
          ...call(3),
          containerId: "pod3",
          args: "IgnoreUnknown=1;IP=10.79.0.50",
        });
        assert.equal(claimed.code, 0, claimed.stdout + claimed.stderr);
        assert.equal((claimed.json.ips as { address: string }[])[0].address, "10.79.0.50/16");
        assert.deepEqual(await ipv4Of(pods[3], "eth0"), ["10.79.0.50/16"]);

        // GC: only pod0 is valid: pod1's and pod3's allocations go, so do their host veths.
        const valid = [{ containerID: "pod0", ifname: "eth0" }];
        const before = (await hostVeths(node)).length;
        assert.equal(before, 4);
        const g = await cni("GC", { node, conf: { ...c, "cni.dev/valid-attachments": valid } });
        assert.equal(g.code, 0, g.stdout + g.stderr);
        assert.equal((await hostVeths(node)).length, 1);
        const after = await daemon.state();
        assert.deepEqual(after.gcCalls.at(-1), {
          ids: ["weave:expose", { id: "pod0", ifname: "eth0" }],
        });
        assert.deepEqual(Object.keys(after.allocations).sort(), ["pod0 eth0", "weave:expose "]);

        // STATUS: ready → ok; not ready → 50; other peers known, none connected → 51.
        assert.equal((await cni("STATUS", { node, conf: c })).code, 0);
        await daemon.request("POST", "/fake/ready?ready=0");
        const notReady = await cni("STATUS", { node, conf: c });
        assert.equal(notReady.json.code, 50);
        assert.match(String(notReady.json.msg), /awaiting consensus/);
        await daemon.request("POST", "/fake/ready?ready=1");
        await daemon.request(
          "POST",
          "/fake/peers",
          JSON.stringify([
            { name: "self", reachable: true, connections: [{ established: false }] },
            { name: "other", reachable: false, connections: [] },
          ]),
        );
        const limited = await cni("STATUS", { node, conf: c });
        assert.equal(limited.json.code, 51, limited.stdout);

        // The daemon goes away: DEL still removes the interface, then says "try again later".
        await daemon.stop();
        const d = await cni("DEL", call(0));
        assert.equal(d.json.code, 11, d.stdout);
        assert.match(String(d.json.msg), /not reachable at http:\/\/127\.0\.0\.1:6784/);
        assert.deepEqual(await hostVeths(node), []);
        const st = await cni("STATUS", { node, conf: c });
        assert.equal(st.json.code, 50);
        // ADD without a daemon: error 11 and nothing left behind.
        const a = await cni("ADD", call(1));
        assert.equal(a.json.code, 11);
        assert.deepEqual(await hostVeths(node), []);
      } finally {
        await daemon.stop();
      }
    });
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
  name: "cni e2e: daemon IPAM against the real net/ipam service: ADD, CHECK, GC, DEL, STATUS",
  ignore: !IS_ROOT,
  async fn() {
    await withNamespaces(PREFIX, async (ns) => {
      const node = ns.add("node");
      const daemon = new IpamDaemon(node, "10.40.0.0/16");
      await daemon.start();
      try {
        const pods = [ns.add("pod"), ns.add("pod")];
        const c = conf({ cniVersion: "1.1.0", daemonAddress: daemon.address });
        const call = (i: number) => ({
          node,
          conf: c,
          containerId: `real${i}`,
          netns: `/run/netns/${pods[i]}`,
          ifname: "eth0",
        });
        const adds = [await cni("ADD", call(0)), await cni("ADD", call(1))];
        for (const a of adds) assert.equal(a.code, 0, a.stdout + a.stderr);
        const [ip0, ip1] = adds.map((a) => (a.json.ips as { address: string }[])[0].address);
        const gw = (adds[0].json.ips as { gateway: string }[])[0].gateway;
        assert.deepEqual(await ipv4Of(pods[0], "eth0"), [ip0]);
        assert.deepEqual(await daemon.allocations(), [
          `real0 eth0=${ip0}`,
          `real1 eth0=${ip1}`,
          `weave:expose =${gw}/16`,
        ]);
        const check = await cni("CHECK", { ...call(0), conf: { ...c, prevResult: adds[0].json } });
        assert.equal(check.code, 0, check.stdout + check.stderr);
        assert.equal((await cni("STATUS", { node, conf: c })).code, 0);

        const valid = [{ containerID: "real0", ifname: "eth0" }];
        const g = await cni("GC", { node, conf: { ...c, "cni.dev/valid-attachments": valid } });
        assert.equal(g.code, 0, g.stdout + g.stderr);
        assert.deepEqual(await daemon.allocations(), [
          `real0 eth0=${ip0}`,
          `weave:expose =${gw}/16`,
        ]);
        assert.equal((await hostVeths(node)).length, 1);

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
