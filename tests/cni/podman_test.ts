/**
 * weavets under a real container runtime: podman 4.3 with its CNI backend, set up as
 * shared/reference/cni-runtime.md describes (private containers.conf and storage.conf, a busybox
 * image imported without a registry, runc). The network is the shipped deploy/cni conflist
 * (weavets + chained portmap), pointed at the IPAM daemon's address; IPAM is the daemon core with
 * the real IPAM service in the node (tests/ipam/ipam_daemon.ts).
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
    const out = await new Deno.Command("nsenter", {
      args: [`--net=/run/netns/${this.node}`, "podman", ...args],
      env: this.env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    if (!out.success) {
      throw new Error(`podman ${args.join(" ")} failed: ${dec.decode(out.stderr).trim()}`);
    }
    return dec.decode(out.stdout).trim();
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
    "published port; stopping them leaves no veth, address or iptables rule",
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
      } finally {
        await podman.cleanup();
        await daemon.stop();
      }
    });
  },
});
