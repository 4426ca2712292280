import assert from "node:assert/strict";
import { parseCniArgs, parseEnv } from "./env.ts";
import { CniError, ErrorCode } from "./errors.ts";

const ADD = {
  CNI_COMMAND: "ADD",
  CNI_CONTAINERID: "0123abcd",
  CNI_NETNS: "/run/netns/pod",
  CNI_IFNAME: "eth0",
  CNI_PATH: "/opt/cni/bin:/usr/lib/cni",
};

function fails(env: Record<string, string>, msg: RegExp): void {
  assert.throws(() => parseEnv(env), (e: unknown) => {
    assert.ok(e instanceof CniError);
    assert.equal(e.code, ErrorCode.InvalidEnvironment, e.message);
    assert.match(e.message, msg);
    return true;
  });
}

Deno.test("env: a runtime's ADD environment is read", () => {
  const e = parseEnv({ ...ADD, CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAME=web;IP=10.32.0.9" });
  assert.equal(e.command, "ADD");
  assert.equal(e.containerId, "0123abcd");
  assert.equal(e.netns, "/run/netns/pod");
  assert.equal(e.ifname, "eth0");
  assert.deepEqual(e.path, ["/opt/cni/bin", "/usr/lib/cni"]);
  assert.equal(e.args.get("K8S_POD_NAME"), "web");
  assert.equal(e.args.get("IP"), "10.32.0.9");
});

Deno.test("env: missing or unknown CNI_COMMAND is error 4", () => {
  fails({}, /CNI_COMMAND is not set/);
  fails({ ...ADD, CNI_COMMAND: "add" }, /CNI_COMMAND "add" is unknown; expected one of ADD/);
});

Deno.test("env: each command's required variables", () => {
  fails({ ...ADD, CNI_CONTAINERID: "" }, /CNI_CONTAINERID is not set; ADD needs it/);
  fails({ ...ADD, CNI_NETNS: "" }, /CNI_NETNS is not set; ADD needs it/);
  fails({ ...ADD, CNI_IFNAME: "" }, /CNI_IFNAME is not set/);
  fails({ ...ADD, CNI_COMMAND: "CHECK", CNI_NETNS: "" }, /CNI_NETNS is not set; CHECK/);
  // DEL may come after the namespace is gone; GC, STATUS and VERSION need none of them.
  assert.equal(parseEnv({ ...ADD, CNI_COMMAND: "DEL", CNI_NETNS: "" }).netns, "");
  for (const c of ["GC", "STATUS", "VERSION"]) {
    assert.equal(parseEnv({ CNI_COMMAND: c }).command, c);
  }
});

Deno.test("env: bad CNI_IFNAME is error 4 with the reason", () => {
  fails(
    { ...ADD, CNI_IFNAME: ".." },
    /CNI_IFNAME "\.\." is invalid: interface name cannot be "\.\."/,
  );
  fails({ ...ADD, CNI_IFNAME: "." }, /CNI_IFNAME "\." /);
  fails({ ...ADD, CNI_IFNAME: "a/b" }, /CNI_IFNAME "a\/b" is invalid: .*cannot contain '\/'/);
  fails({ ...ADD, CNI_IFNAME: "a b" }, /whitespace/);
  fails({ ...ADD, CNI_IFNAME: "0123456789abcdef" }, /is 16 bytes, at most 15 allowed/);
  assert.equal(parseEnv({ ...ADD, CNI_IFNAME: "0123456789abcde" }).ifname.length, 15);
});

Deno.test("env: bad CNI_CONTAINERID and relative CNI_NETNS are error 4", () => {
  fails({ ...ADD, CNI_CONTAINERID: "-x" }, /CNI_CONTAINERID "-x" is invalid/);
  fails({ ...ADD, CNI_CONTAINERID: "a/b" }, /CNI_CONTAINERID/);
  fails({ ...ADD, CNI_NETNS: "netns-1" }, /CNI_NETNS "netns-1" must be an absolute path/);
});

Deno.test("env: CNI_ARGS pairs", () => {
  assert.deepEqual([...parseCniArgs("")], []);
  assert.deepEqual([...parseCniArgs("A=1;B=x=y;")], [["A", "1"], ["B", "x=y"]]);
  assert.throws(() => parseCniArgs("A=1;junk"), /"junk", which is not KEY=VALUE/);
  assert.throws(() => parseCniArgs("=v"), /not KEY=VALUE/);
});
