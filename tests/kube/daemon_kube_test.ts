/**
 * The daemon's `--kube` wiring, in process, against the TEST-DOUBLE API server: two daemons find
 * each other only through the Node list, agree on the IP split with the Node count as quorum, and
 * when one node is deleted the survivor takes over its addresses through IPAM. The data plane is
 * left out (it would build a bridge in this namespace); its wiring is covered elsewhere.
 */
import assert from "node:assert/strict";
import { components } from "../../cli/daemon.ts";
import { parseDaemonConfig } from "../../net/daemon/config.ts";
import { type Daemon, startDaemon } from "../../net/daemon/daemon.ts";
import type { IpamComponent } from "../../net/ipam/component.ts";
import type { IpamService } from "../../net/ipam/service.ts";
import { Logger } from "../../net/log.ts";
import { FakeApiServer, makePki } from "./fake_apiserver.ts";

const quiet = new Logger({ sink: { write() {} } });

async function until(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test({
  name:
    "daemon --kube: peers from Nodes, consensus over the listed nodes, reclaim of a deleted node",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const pki = await makePki();
    const api = new FakeApiServer(pki);
    api.start();
    const dir = await Deno.makeTempDir({ prefix: "wtk-daemon-" });
    const kubeconfig = `${dir}/kubeconfig`;
    await Deno.writeTextFile(
      kubeconfig,
      [
        "apiVersion: v1",
        "kind: Config",
        "current-context: t",
        "contexts: [{name: t, context: {cluster: t, user: t}}]",
        `clusters: [{name: t, cluster: {server: "${api.url}", certificate-authority-data: ${
          btoa(pki.caCert)
        }}}]`,
        `users: [{name: t, user: {token: ${api.token}}}]`,
        "",
      ].join("\n"),
    );
    // Loopback addresses of their own: each daemon listens on the default port 6783.
    const nodes = [
      { node: "node-a", ip: "127.0.0.2", name: "0a:77:74:00:0a:01" },
      { node: "node-b", ip: "127.0.0.3", name: "0a:77:74:00:0a:02" },
    ];
    for (const n of nodes) api.addNode(n.node, n.ip);
    const daemons: Daemon[] = [];
    const ipams: IpamService[] = [];
    try {
      for (const n of nodes) {
        const config = parseDaemonConfig(
          [
            "--kube",
            "--kubeconfig",
            kubeconfig,
            "--name",
            n.name,
            "--host",
            n.ip,
            "--http-addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "",
            "--datadir",
            `${dir}/${n.node}`,
            "--ipalloc-range",
            "10.77.0.0/24",
          ],
          {},
          { machineId: () => null, hostname: () => n.node, readFile: Deno.readTextFileSync },
        )!;
        const env = new Map([["NODE_NAME", n.node]]);
        const list = components(config, env).filter((c) => ["kube", "ipam"].includes(c.name));
        ipams.push((list.find((c) => c.name === "ipam") as IpamComponent).service);
        daemons.push(await startDaemon(config, { components: list, log: quiet }));
      }
      const [a, b] = daemons;
      // Nobody was given a peer address: the Node list is the only source.
      await until(
        "both daemons connected",
        () =>
          a.view.peers().filter((p) => p.reachable).length === 2 &&
          b.view.peers().filter((p) => p.reachable).length === 2,
        15_000,
      );
      // Quorum is the Node count (2): IPAM becomes ready only with both.
      await until("IPAM consensus", () => ipams.every((i) => i.ready() === null), 15_000);
      const half = ipams[0].view()!.peers.find((p) => p.name === nodes[1].name)!.owned;
      assert.ok(half > 0, "node-b owns part of the range");

      // node-b goes away for good: its daemon stops, then its Node is deleted.
      await b.stop();
      daemons.pop();
      api.deleteNode("node-b");
      await until("node-b's space taken over by node-a", () => {
        const s = ipams[0].view()!;
        return (s.peers.find((p) => p.name === nodes[1].name)?.owned ?? 0) === 0;
      }, 20_000);
      const s = ipams[0].view()!;
      assert.equal(s.peers.find((p) => p.name === nodes[0].name)!.owned, 256);
      // The reclaim completes by dropping node-b's peer and the lock from the ConfigMap.
      await until("node-b's peer and its reclaim lock gone from the ConfigMap", () => {
        const listed = JSON.stringify(api.configMap().metadata.annotations ?? {});
        return !listed.includes(nodes[1].name) && !listed.includes("0a-77-74-00-0a-02");
      }, 10_000);
    } finally {
      for (const d of daemons) await d.stop();
      await api.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
