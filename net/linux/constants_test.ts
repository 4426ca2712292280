/**
 * Every kernel number we hard-code equals the system headers' value: a C program including the
 * headers prints them. Skipped when there is no C compiler or no kernel headers.
 */
import assert from "node:assert/strict";
import * as L from "./libc.ts";
import * as R from "./netlink/rtnl.ts";
import * as T from "./tap.ts";

function haveCompiler(): boolean {
  try {
    const ok = new Deno.Command("cc", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
    return ok && Deno.statSync("/usr/include/linux/rtnetlink.h").isFile;
  } catch {
    return false;
  }
}

/** Compiles a program printing each name's value as C sees it (`cName` renames), returns them. */
function valuesInC(
  headers: string[],
  names: string[],
  cName: Record<string, string> = {},
  optional: string[] = [],
) {
  const dir = Deno.makeTempDirSync({ prefix: "wtl-consts-" });
  try {
    const src = [
      "#include <stdio.h>",
      ...headers.map((h) => `#include <${h}>`),
      "int main(void) {",
      // A macro older headers lack is skipped (and so not compared) rather than failing.
      ...names.map((n) =>
        optional.includes(n)
          ? `#ifdef ${n}\n  printf("%s %ld\\n", "${n}", (long)(${n}));\n#endif`
          : `  printf("%s %ld\\n", "${n}", (long)(${cName[n] ?? n}));`
      ),
      "  return 0;",
      "}",
    ].join("\n");
    Deno.writeTextFileSync(`${dir}/c.c`, src);
    const cc = new Deno.Command("cc", { args: ["-o", `${dir}/c`, `${dir}/c.c`] }).outputSync();
    assert.ok(cc.success, new TextDecoder().decode(cc.stderr));
    const out = new TextDecoder().decode(new Deno.Command(`${dir}/c`).outputSync().stdout);
    return Object.fromEntries(
      out.trim().split("\n").map((l) => l.split(" ")).map(([k, v]) => [k, Number(v)]),
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

function numbersOf(mod: Record<string, unknown>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(mod).filter((e): e is [string, number] => typeof e[1] === "number"),
  );
}

/** `ours` restricted to the names C knew. */
function pick(ours: Record<string, number>, c: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.keys(c).map((k) => [k, ours[k]]));
}

const ignore = !haveCompiler();

Deno.test({ name: "rtnetlink constants match linux/*.h", ignore }, () => {
  const ours = numbersOf(R);
  const headers = [
    "sys/socket.h",
    "linux/rtnetlink.h",
    "linux/if_link.h",
    "linux/if_addr.h",
    "linux/neighbour.h",
    "linux/veth.h",
    "linux/if.h",
    "linux/net_namespace.h",
  ];
  const c = valuesInC(headers, Object.keys(ours), {
    IFINFOMSG_LEN: "sizeof(struct ifinfomsg)",
    IFADDRMSG_LEN: "sizeof(struct ifaddrmsg)",
    RTMSG_LEN: "sizeof(struct rtmsg)",
    NDMSG_LEN: "sizeof(struct ndmsg)",
    RTGENMSG_LEN: "NLMSG_ALIGN(sizeof(struct rtgenmsg))",
  });
  assert.deepEqual(ours, c);
  assert.ok(Object.keys(ours).length > 60, "the module namespace was read");
});

Deno.test({ name: "libc constants match fcntl.h, sys/socket.h, linux/udp.h", ignore }, () => {
  const ours = numbersOf(L);
  const headers = ["fcntl.h", "sys/socket.h", "netinet/in.h", "netinet/udp.h"];
  assert.deepEqual(ours, valuesInC(headers, Object.keys(ours)));
});

Deno.test({ name: "TUN ioctls, IFF_* and TUN_F_* flags match linux/if_tun.h", ignore }, () => {
  const ours = numbersOf(T);
  const c = valuesInC(["sys/ioctl.h", "linux/if_tun.h", "linux/virtio_net.h"], Object.keys(ours), {
    VIRTIO_NET_HDR_LEN: "sizeof(struct virtio_net_hdr)",
  }, ["TUN_F_USO4", "TUN_F_USO6"]);
  // TUN_F_USO4/6 (kernel 6.2) may be missing from older userspace headers.
  assert.deepEqual(pick(ours, c), c);
  assert.ok(Object.keys(c).length >= 6);
});
