/**
 * The input allow-list component (net/dataplane/node/input_filter.ts) in a real kernel: a node
 * namespace with a peer and a stranger on two links. UDP to the sleeve and fast-path ports from
 * the peer is delivered, from the stranger dropped and counted; TCP to the API port from the
 * stranger is dropped (as with route_localnet, where a remote host reaches 127.0.0.1) while the
 * node's own loopback client gets through; the peer list follows a changed record; removed on
 * stop. Negative control: after stop, the stranger's datagrams and connection do arrive.
 * Receivers and senders are small python3 programs (an oracle independent of the product).
 */
import assert from "node:assert/strict";
import { IS_ROOT, withNamespaces } from "../harness/netns.ts";
import { sh, shTry } from "../harness/sh.ts";
import { inNetns, netnsPath } from "../../net/linux/mod.ts";
import { runNft } from "../../net/linux/nftables.ts";
import { Logger } from "../../net/log.ts";
import type { MeshView } from "../../net/mesh/gossip_channel.ts";
import { createInputFilter } from "../../net/dataplane/node/input_filter.ts";

const RECEIVE = `
import socket, select, sys, time, json
socks = []
for p in (6783, 6784):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", p)); socks.append(s)
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("0.0.0.0", 6784)); t.listen(16); socks.append(t)
got = {}
print("ready", flush=True)
end = time.time() + float(sys.argv[1])
while time.time() < end:
    r, _, _ = select.select(socks, [], [], 0.05)
    for s in r:
        if s is t:
            c, a = t.accept(); key = "tcp %s" % a[0]; c.close()
        else:
            _, a = s.recvfrom(2048); key = "udp%d %s" % (s.getsockname()[1], a[0])
        got[key] = got.get(key, 0) + 1
print(json.dumps(got), flush=True)
`;

const SEND = `
import socket, sys
dst = sys.argv[1]
for p in (6783, 6784):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(5): s.sendto(b"x" * 32, (dst, p))
t = socket.socket(); t.settimeout(0.7)
try:
    t.connect((dst, 6784)); print("connected")
except Exception as e:
    print("refused", e)
`;

const quiet = new Logger({ json: true, sink: { write: () => {} } });

Deno.test({
  name: "input allow-list in a kernel: peers' UDP delivered, a stranger's dropped and counted, " +
    "the API port local only; removed on stop (then the stranger gets through)",
  ignore: !IS_ROOT,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withNamespaces("wtalk", async (ns) => {
      const node = ns.add("node");
      const peer = ns.add("peer");
      const stranger = ns.add("str");
      for (const [i, other] of [[1, peer], [2, stranger]] as const) {
        await sh(
          "ip",
          "link",
          "add",
          `e${i}`,
          "netns",
          node,
          "type",
          "veth",
          "peer",
          "eth0",
          "netns",
          other,
        );
        await sh("ip", "-n", node, "addr", "add", `10.77.${i}.1/24`, "dev", `e${i}`);
        await sh("ip", "-n", other, "addr", "add", `10.77.${i}.2/24`, "dev", "eth0");
        await sh("ip", "-n", node, "link", "set", `e${i}`, "up");
        await sh("ip", "-n", other, "link", "set", "eth0", "up");
      }
      const PEER = "aa:00:00:00:00:01";
      let records = [{ peer: PEER, addr: "10.77.1.2" }];
      const mesh = {
        self: "aa:00:00:00:00:00",
        peers: () => [{ name: PEER, nickname: "p", reachable: true }],
        onChange: () => () => {},
      } as unknown as MeshView;
      const path = netnsPath(node);
      const filter = createInputFilter({
        sleevePort: 6783,
        fastdpPort: 6784,
        apiPort: 6784,
        records: () => records,
        log: quiet,
        // libnftables acts in the calling thread's namespace: the node's.
        nft: (script, opts) => inNetns(path, () => runNft(script, opts)),
        checkMs: 3_600_000,
      });

      /** Starts the receiver in the node, sends from `from` (each to `dst`), returns what arrived. */
      async function round(senders: Array<[string, string]>, local = false) {
        const rx = new Deno.Command("ip", {
          args: ["netns", "exec", node, "python3", "-c", RECEIVE, "6"],
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        const lines = rx.stdout.pipeThrough(new TextDecoderStream()).getReader();
        let out = "";
        while (!out.includes("ready")) {
          const { value, done } = await lines.read();
          if (done) throw new Error("receiver did not start");
          out += value;
        }
        const sent: string[] = [];
        for (const [from, dst] of senders) {
          const r = await shTry("ip", ["netns", "exec", from, "python3", "-c", SEND, dst]);
          sent.push(r.stdout.trim());
        }
        if (local) {
          const r = await shTry("ip", ["netns", "exec", node, "python3", "-c", SEND, "127.0.0.1"]);
          sent.push(r.stdout.trim());
        }
        while (true) {
          const { value, done } = await lines.read();
          if (done) break;
          out += value;
        }
        await rx.status;
        const got = JSON.parse(out.slice(out.indexOf("{"))) as Record<string, number>;
        return { got, sent };
      }

      filter.start(mesh);
      try {
        const on = await round([[peer, "10.77.1.1"], [stranger, "10.77.2.1"]], true);
        assert.equal(on.got["udp6783 10.77.1.2"], 5, JSON.stringify(on));
        assert.equal(on.got["udp6784 10.77.1.2"], 5);
        assert.equal(on.got["udp6783 10.77.2.2"], undefined, "the stranger's sleeve datagrams");
        assert.equal(on.got["udp6784 10.77.2.2"], undefined, "the stranger's VXLAN datagrams");
        assert.equal(on.got["tcp 10.77.2.2"], undefined, "the stranger reached the API port");
        assert.equal(on.got["tcp 127.0.0.1"], 1, "the node's own client reaches the API port");
        assert.match(on.sent[1], /refused/);
        assert.equal(on.got["tcp 10.77.1.2"], undefined, "the API port is local only, peers too");
        assert.match(on.sent[0], /refused/);
        assert.match(on.sent[2], /connected/);
        const refused = filter.report().refused;
        assert.deepEqual([refused.sleeve, refused.fastdp], [5, 5]);
        assert.ok(refused.api >= 2, `both SYNs counted: ${refused.api}`);

        // The peer's record moves to the other link's address: the set follows, one update.
        records = [{ peer: PEER, addr: "10.77.2.2" }];
        filter.changed();
        const moved = await round([[peer, "10.77.1.1"], [stranger, "10.77.2.1"]]);
        assert.equal(moved.got["udp6784 10.77.2.2"], 5, JSON.stringify(moved));
        assert.equal(moved.got["udp6784 10.77.1.2"], undefined);
      } finally {
        filter.stop();
      }
      const gone = await shTry("ip", [
        "netns",
        "exec",
        node,
        "nft",
        "list",
        "table",
        "inet",
        "weavets_input",
      ]);
      assert.notEqual(gone.code, 0, "the table is removed on stop");
      // Negative control: without the table the very same datagrams and connection arrive.
      const off = await round([[stranger, "10.77.2.1"]]);
      assert.equal(off.got["udp6783 10.77.2.2"], 5, JSON.stringify(off));
      assert.equal(off.got["udp6784 10.77.2.2"], 5);
      assert.equal(off.got["tcp 10.77.2.2"], 1);
    }),
});
