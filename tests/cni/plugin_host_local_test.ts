/**
 * The CNI plugin end to end with host-local IPAM (delegation): the real binary, exactly as a runtime
 * runs it (stripped environment, CNI_* variables, config on stdin), inside throwaway "node" and
 * "pod" namespaces; `ip -j` is the oracle. ADD/CHECK/DEL, DEL after the netns is gone, concurrency.
 */
import assert from "node:assert/strict";
import { withNamespaces } from "../harness/netns.ts";
import { sh } from "../harness/sh.ts";
import { cni, hostLocal, hostVeths, ipv4Of, links, routes } from "./plugin.ts";
import { conf, dataDir, ignore, leases, PREFIX } from "./plugin_fixture.ts";

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
