/**
 * weavets under a real container runtime: podman 4.3 with its CNI backend, set up as
 * shared/reference/cni-runtime.md describes (private containers.conf and storage.conf, a busybox
 * image imported without a registry, runc). The network is the shipped deploy/cni conflist
 * (weavets + chained portmap), pointed at the IPAM daemon's address; IPAM is the daemon core with
 * the real IPAM service in the node (tests/ipam/ipam_daemon.ts). Also what a runtime with libcni
 * 1.1 (podman 4.3, like containerd 1.6/1.7) makes of a 1.1.0 conflist (deploy/cni/README.md).
 */
import assert from "node:assert/strict";
import { REPO_ROOT, weavetsBin } from "../harness/binary.ts";
import { IS_ROOT, withNamespaces } from "../harness/netns.ts";
import { sh, shTry } from "../harness/sh.ts";
import { hostVeths, httpInNetns, IpamDaemon } from "./plugin.ts";

function which(cmd: string): boolean {
  return new Deno.Command("sh", { args: ["-c", `command -v ${cmd}`], stdout: "null" })
    .outputSync().success;
}
const missing = ["podman", "runc", "catatonit", "busybox", "iptables-save", "nsenter"]
  .filter((c) => !which(c));
if (IS_ROOT && missing.length) {
  console.error(
    `tests/cni/podman_test.ts: skipped: ${missing.join(", ")} not installed (apt-get install ` +
      "--no-install-recommends podman containernetworking-plugins runc catatonit busybox-static " +
      "iptables)",
  );
}

const IMAGE = "localhost/wtcbusybox:1";

/** A private podman: its own config, storage, plugin dir (with `weavets`) and network dir. */
class Podman {
  readonly dir: string;
  readonly env: Record<string, string>;
  /** `daemonAddress`: the IPAM daemon's host:port, set in the shipped conflist's weavets entry. */
  constructor(readonly node: string, daemonAddress: string) {
    // runroot must stay short (<= 50 chars) or podman's exit-time DEL silently fails.
    this.dir = `/run/wtc${Deno.pid}-${crypto.randomUUID().slice(0, 6)}`;
    const d = this.dir;
    Deno.mkdirSync(`${d}/bin`, { recursive: true });
    Deno.mkdirSync(`${d}/net.d`, { recursive: true });
    Deno.symlinkSync(weavetsBin(), `${d}/bin/weavets`);
    const conflist = JSON.parse(
      Deno.readTextFileSync(`${REPO_ROOT}/deploy/cni/10-weavets.conflist`),
    );
    conflist.plugins[0].daemonAddress = daemonAddress;
    Deno.writeTextFileSync(`${d}/net.d/10-weavets.conflist`, JSON.stringify(conflist));
    // weavets alone at 1.1.0, a version podman's libcni (1.1.2) cannot read results of.
    const v110 = { cniVersion: "1.1.0", name: "wtc110", plugins: [conflist.plugins[0]] };
    Deno.writeTextFileSync(`${d}/net.d/20-wtc110.conflist`, JSON.stringify(v110));
    Deno.writeTextFileSync(
      `${d}/containers.conf`,
      [
        "[containers]",
        'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]',
        'init_path = "/usr/bin/catatonit"',
        "[engine]",
        'runtime = "runc"',
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        `tmp_dir = "${d}/tmp"`,
        "[network]",
        'network_backend = "cni"',
        `cni_plugin_dirs = ["${d}/bin", "/usr/lib/cni", "/opt/cni/bin"]`,
        `network_config_dir = "${d}/net.d"`,
        "",
      ].join("\n"),
    );
    Deno.writeTextFileSync(
      `${d}/storage.conf`,
      ["[storage]", 'driver = "vfs"', `runroot = "${d}/rr"`, `graphroot = "${d}/graph"`, ""].join(
        "\n",
      ),
    );
    this.env = {
      CONTAINERS_CONF: `${d}/containers.conf`,
      CONTAINERS_STORAGE_CONF: `${d}/storage.conf`,
    };
  }

  /** podman inside the node's network namespace (nsenter keeps the mount namespace). */
  async run(...args: string[]): Promise<string> {
    const out = await this.tryRun(...args);
    if (out.code !== 0) throw new Error(`podman ${args.join(" ")} failed: ${out.stderr}`);
    return out.stdout;
  }

  async tryRun(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const out = await new Deno.Command("nsenter", {
      args: [`--net=/run/netns/${this.node}`, "podman", ...args],
      env: this.env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    return {
      code: out.code,
      stdout: dec.decode(out.stdout).trim(),
      stderr: dec.decode(out.stderr).trim(),
    };
  }

  async importBusybox(): Promise<void> {
    const root = `${this.dir}/rootfs`;
    Deno.mkdirSync(`${root}/bin`, { recursive: true });
    await sh("cp", "/bin/busybox", `${root}/bin/busybox`);
    await sh("chroot", root, "/bin/busybox", "--install", "-s", "/bin");
    await sh("tar", "-C", root, "-cf", `${this.dir}/rootfs.tar`, ".");
    await this.run("import", "--change", 'CMD ["/bin/sh"]', `${this.dir}/rootfs.tar`, IMAGE);
  }

  async cleanup(): Promise<void> {
    await shTry("nsenter", [`--net=/run/netns/${this.node}`, "podman", "rm", "-f", "-a", "-t", "0"])
      .catch(() => {});
    await new Deno.Command("nsenter", {
      args: [`--net=/run/netns/${this.node}`, "podman", "system", "reset", "-f"],
      env: this.env,
      stdout: "null",
      stderr: "null",
    }).output().catch(() => {});
    await shTry("rm", ["-rf", this.dir]);
  }
}

Deno.test({
  name: "cni podman: two containers on the shipped conflist ping each other and reach a " +
    "published port; stopping them leaves no veth, address or iptables rule; on a 1.1.0 " +
    "conflist, which libcni 1.1 cannot read results of, a container fails and leaves nothing",
  ignore: !IS_ROOT || missing.length > 0,
  async fn() {
    await withNamespaces("wtc", async (ns) => {
      const node = ns.add("node");
      const daemon = new IpamDaemon(node, "10.32.0.0/12");
      await daemon.start();
      const podman = new Podman(node, daemon.address);
      try {
        await podman.importBusybox();
        const rulesBefore = await sh("ip", "netns", "exec", node, "iptables-save");
        const common = ["run", "-d", "--pull=never", "--network", "weavets"];
        await podman.run(
          ...common,
          "--name",
          "wtca",
          "-p",
          "8080:80",
          IMAGE,
          "sh",
          "-c",
          "mkdir -p /www && echo hello-weavets > /www/index.html && exec httpd -f -p 80 -h /www",
        );
        // A requested MAC reaches the plugin (capability "mac" in the shipped conflist).
        const mac = "0a:58:0a:20:00:4d";
        await podman.run(...common, "--name", "wtcb", "--mac-address", mac, IMAGE, "sleep", "600");
        assert.equal(await podman.run("exec", "wtcb", "cat", "/sys/class/net/eth0/address"), mac);
        const ipOf = (c: string) =>
          podman.run("inspect", "-f", "{{.NetworkSettings.Networks.weavets.IPAddress}}", c);
        const [ipA, ipB] = [await ipOf("wtca"), await ipOf("wtcb")];
        assert.match(ipA, /^10\.3[2-9]\./);
        assert.notEqual(ipA, ipB);
        assert.equal((await hostVeths(node)).length, 2);

        await podman.run("exec", "wtcb", "ping", "-c", "1", "-W", "2", ipA);
        await podman.run("exec", "wtca", "ping", "-c", "1", "-W", "2", ipB);
        // The published port, through portmap's DNAT on the node (busybox wget crashes on this
        // host, so the client is Deno's fetch in the node namespace).
        const gw = await sh("ip", "-n", node, "-4", "-j", "addr", "show", "dev", "weave");
        const gwIp = JSON.parse(gw)[0].addr_info[0].local as string;
        const fromNode = await httpInNetns(node, "GET", `http://${gwIp}:8080/`);
        assert.equal(fromNode.trim(), "hello-weavets");

        await podman.run("stop", "-t", "0", "wtca", "wtcb");
        await podman.run("rm", "wtca", "wtcb");
        assert.deepEqual(await hostVeths(node), [], "a host veth was left behind");
        const left = (await daemon.allocations()).filter((a) => !a.startsWith("weave:expose"));
        assert.deepEqual(left, [], "an address was left allocated");
        const rulesAfter = await sh("ip", "netns", "exec", node, "iptables-save");
        const rules = (s: string) =>
          s.split("\n").filter((l) =>
            l.startsWith("-A") && (l.includes(ipA) ||
              l.includes(ipB) || l.includes("8080") || l.includes("CNI-DN-"))
          );
        assert.deepEqual(rules(rulesAfter), [], "an iptables rule was left behind");
        assert.deepEqual(rules(rulesBefore), []);

        // A 1.1.0 conflist: podman's libcni 1.1 has no parser for the 1.1.0 result, so the
        // container fails, and the DEL podman sends then undoes what weavets did. (Had weavets
        // answered 1.0.0, the container would start and every DEL fail before reaching the
        // plugin: libcni cannot convert its cached 1.0.0 result to the config's 1.1.0.)
        const failed = await podman.tryRun(
          "run",
          "-d",
          "--pull=never",
          "--network",
          "wtc110",
          "--name",
          "wtcc",
          IMAGE,
          "sleep",
          "600",
        );
        assert.notEqual(failed.code, 0, "the container started on a 1.1.0 conflist");
        assert.match(failed.stderr, /unsupported CNI result version "1\.1\.0"/);
        await podman.tryRun("rm", "-f", "-t", "0", "wtcc");
        assert.deepEqual(await hostVeths(node), [], "the failed container left its veth");
        assert.deepEqual(
          (await daemon.allocations()).filter((a) => !a.startsWith("weave:expose")),
          [],
          "the failed container left its address",
        );
      } finally {
        await podman.cleanup();
        await daemon.stop();
      }
    });
  },
});
