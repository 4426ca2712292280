/**
 * Helper process for the crash test: writes allocations and ring states into a store as fast as
 * it can until it is killed with SIGKILL. Prints "ready" once it has started writing.
 */
import { parseCidr } from "../../net/addr/mod.ts";
import { Ring } from "../../net/ipam/ring.ts";
import { IpamStore } from "../../net/ipam/store.ts";
import { TOKEN_DOMAIN } from "../../net/ipam/token.ts";
import { TestKeyring } from "../../net/mesh/testing/keyring.ts";

const [dir] = Deno.args;
const range = parseCidr("10.40.0.0/16");
const store = new IpamStore(dir, range, "aa:00:00:00:00:01");
const signer = new TestKeyring().view("aa:00:00:00:00:01");
const ring = Ring.seeded(range.ip, range.ip + 65536, ["aa:00:00:00:00:01", "aa:00:00:00:00:02"], {
  self: "aa:00:00:00:00:01",
  sign: (p) => signer.sign(TOKEN_DOMAIN, p),
  verify: (a, p, s) => signer.verify(a, TOKEN_DOMAIN, p, s),
  reachable: () => true,
});
for (let i = 0;; i++) {
  store.putAllocation({ id: `c${i}`, ifname: "eth0", ip: range.ip + 1 + (i % 60000) });
  if (i % 50 === 0) {
    ring.transfer("aa:00:00:00:00:01", "aa:00:00:00:00:02", range.ip + i + 1, range.ip + i + 2);
    store.saveMeta({ ring: ring.state(), paxos: null });
    store.deleteAllocations([{ id: `c${i - 25}`, ifname: "eth0" }]);
  }
  if (i % 10 === 9) await store.committed(); // as the API does before answering
  if (i === 200) console.log("ready");
}
