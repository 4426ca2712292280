/**
 * The CNI plugin as a Weave Net drop-in: Weave's conflist entry run through the weave-net name, and
 * the harness's launcher copy that makes that name (pluginNamed).
 */
import assert from "node:assert/strict";
import { IS_ROOT, withNamespaces } from "../harness/netns.ts";
import {
  execPlugin,
  hostVeths,
  IpamDaemon,
  ipv4Of,
  PLUGIN_DIRS,
  pluginNamed,
  relocatedLauncher,
  routes,
} from "./plugin.ts";
import { HAS_BRIDGE, PREFIX } from "./plugin_fixture.ts";

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
