/**
 * Traffic for the data-plane tests, run inside pod namespaces (`ip netns exec POD deno run …`):
 *   sink PORT                      accept one TCP connection, print "<bytes> <sha256>"
 *   source HOST PORT MB SEED       send MB MiB of seeded pseudo-random data, print "<bytes> <sha256>"
 *   text HOST PORT TEXT COUNT      send TEXT COUNT times over TCP (known plaintext)
 *   mrecv GROUP PORT SECONDS [N]   join GROUP, print each datagram received (one line each), for
 *                                  SECONDS or until N arrived
 *   msend GROUP PORT TEXT COUNT    send COUNT datagrams to GROUP
 */
import { createHash } from "node:crypto";

const [mode, ...a] = Deno.args;

function prng(seed: number): (buf: Uint8Array) => void {
  let x = seed >>> 0 || 1;
  return (buf) => {
    const u = new Uint32Array(buf.buffer, buf.byteOffset, buf.length >> 2);
    for (let i = 0; i < u.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      u[i] = x >>> 0;
    }
  };
}

if (mode === "sink") {
  const l = Deno.listen({ port: Number(a[0]) });
  console.log("listening");
  const c = await l.accept();
  const h = createHash("sha256");
  let n = 0;
  for await (const chunk of c.readable) {
    h.update(chunk);
    n += chunk.length;
  }
  console.log(`${n} ${h.digest("hex")}`);
  l.close();
} else if (mode === "source") {
  const c = await Deno.connect({ hostname: a[0], port: Number(a[1]) });
  const total = Number(a[2]) << 20;
  const fill = prng(Number(a[3]));
  const h = createHash("sha256");
  const chunk = new Uint8Array(1 << 20);
  const w = c.writable.getWriter();
  for (let sent = 0; sent < total; sent += chunk.length) {
    fill(chunk);
    h.update(chunk);
    await w.write(chunk.slice());
  }
  await w.close();
  console.log(`${total} ${h.digest("hex")}`);
} else if (mode === "text") {
  const c = await Deno.connect({ hostname: a[0], port: Number(a[1]) });
  const w = c.writable.getWriter();
  const line = new TextEncoder().encode(a[2].repeat(Number(a[3])));
  await w.write(line);
  await w.close();
} else if (mode === "mrecv") {
  const s = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: Number(a[1]) });
  await s.joinMulticastV4(a[0], "0.0.0.0");
  console.log("joined");
  const stop = setTimeout(() => {
    s.close();
  }, Number(a[2]) * 1000);
  try {
    for (let n = 0; n < Number(a[3] ?? Infinity); n++) {
      const [d] = await s.receive();
      console.log(new TextDecoder().decode(d));
    }
    s.close();
  } catch {
    // closed
  }
  clearTimeout(stop);
} else if (mode === "msend") {
  const s = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: 0 });
  for (let i = 0; i < Number(a[3]); i++) {
    await s.send(new TextEncoder().encode(`${a[2]} ${i}`), {
      transport: "udp",
      hostname: a[0],
      port: Number(a[1]),
    });
    await new Promise((r) => setTimeout(r, 100));
  }
  s.close();
} else {
  console.error("usage: see the header of net_tool.ts");
  Deno.exit(2);
}
