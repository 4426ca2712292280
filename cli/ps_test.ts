import assert from "node:assert/strict";
import { formatPs, neighbourMacs } from "./ps.ts";

Deno.test("weavets ps: Weave's lines — id[:12], MAC, addresses; weave:expose first", () => {
  const allocations = [
    { id: "f00dfeed0123456789abcdef", ifname: "eth0", ip: "10.32.0.5/12" },
    { id: "weave:expose", ifname: "", ip: "10.32.0.1/12" },
    { id: "f00dfeed0123456789abcdef", ifname: "net1", ip: "10.32.0.6/12" },
    { id: "0badc0de", ifname: "eth0", ip: "10.32.0.7/12" },
  ];
  const macs = {
    bridge: "7a:00:00:00:00:01",
    byIp: neighbourMacs(
      '[{"dst":"10.32.0.5","dev":"weave","lladdr":"be:ef:00:00:00:05","state":["REACHABLE"]},' +
        '{"dst":"10.32.0.9","dev":"weave","state":["FAILED"]}]',
    ),
  };
  assert.equal(
    formatPs(allocations, macs),
    "weave:expose 7a:00:00:00:00:01 10.32.0.1/12\n" +
      "0badc0de - 10.32.0.7/12\n" +
      "f00dfeed0123 be:ef:00:00:00:05 10.32.0.5/12 10.32.0.6/12\n",
  );
  assert.equal(
    formatPs(allocations, macs, ["f00d"]),
    "f00dfeed0123 be:ef:00:00:00:05 10.32.0.5/12 10.32.0.6/12\n",
  );
  assert.equal(formatPs([], macs), "");
  assert.deepEqual([...neighbourMacs("not json")], []);
});
