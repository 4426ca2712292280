/**
 * The product's own probes between pods, so the demo and the tests need no ping, busybox or
 * iperf3: an ICMP echo over a raw socket (net/linux/icmp.ts) and a TCP transfer between two
 * network namespaces in this process (the sending side in a Worker started inside the client's
 * namespace: a thread keeps the namespace it was created in, so its sockets are made there).
 */
import { describeCause } from "../../net/cause.ts";
import {
  closeFd,
  inNetns,
  openIcmpSocket,
  receiveEchoReply,
  sendEchoRequest,
  waitReadable,
} from "../../net/linux/mod.ts";
import type { TcpSendRequest, TcpSendResult } from "./tcp_messages.ts";

/** The result of one echo: the round-trip time, or why there was none. */
export type PingResult = { ok: true; ms: number } | { ok: false; output: string };

/**
 * How long one blocking wait for a reply may hold the event loop: short enough that other work
 * (a daemon exiting, a signal) is seen promptly, long enough that a reply is timed when it arrives.
 */
const WAIT_SLICE_MS = 20;

/** One ICMP echo from the namespace at `netns` to `to`; waits up to `timeoutMs` for the reply. */
export async function ping(netns: string, to: string, timeoutMs: number): Promise<PingResult> {
  let fd: number;
  try {
    fd = inNetns(netns, () => openIcmpSocket());
  } catch (e) {
    return { ok: false, output: describeCause(e) };
  }
  try {
    const id = crypto.getRandomValues(new Uint16Array(1))[0];
    const start = performance.now();
    sendEchoRequest(fd, to, id, 1);
    for (;;) {
      const left = start + timeoutMs - performance.now();
      if (left <= 0) return { ok: false, output: `no echo reply from ${to} in ${timeoutMs} ms` };
      if (waitReadable(fd, Math.min(WAIT_SLICE_MS, Math.ceil(left)))) {
        const at = performance.now();
        // Every raw ICMP socket in the namespace gets every reply: ours has our identifier.
        for (let r = receiveEchoReply(fd); r; r = receiveEchoReply(fd)) {
          if (r.id === id && r.seq === 1 && r.from === to) return { ok: true, ms: at - start };
        }
      } else {
        await new Promise((r) => setTimeout(r, 0));
      }
    }
  } catch (e) {
    return { ok: false, output: describeCause(e) };
  } finally {
    closeFd(fd);
  }
}

export interface TcpResult {
  bitsPerSecond: number;
  bytes: number;
  seconds: number;
}

/**
 * Sends as much as TCP takes for `seconds` from the namespace `clientNetns` to `serverIp` in
 * `serverNetns` and returns the rate the server received. Bounded: the transfer stops after
 * `seconds` and everything is given up after `seconds + 10` s.
 */
export async function tcpThroughput(
  server: { netns: string; ip: string },
  clientNetns: string,
  seconds: number,
): Promise<TcpResult> {
  const listener = inNetns(server.netns, () => Deno.listen({ hostname: server.ip, port: 0 }));
  const worker = inNetns(
    clientNetns,
    () => new Worker(new URL("./tcp_worker.ts", import.meta.url), { type: "module" }),
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const sent = new Promise<TcpSendResult>((resolve) => {
      worker.onmessage = (e: MessageEvent<TcpSendResult>) => resolve(e.data);
      worker.onerror = (e) => {
        e.preventDefault();
        resolve({ error: e.message });
      };
    });
    const request: TcpSendRequest = { host: server.ip, port: listener.addr.port, seconds };
    worker.postMessage(request);
    const received = (async () => {
      const conn = await listener.accept();
      try {
        const buf = new Uint8Array(256 * 1024);
        let bytes = 0;
        let first = 0;
        for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
          if (bytes === 0) first = performance.now();
          bytes += n;
        }
        return { bytes, seconds: (performance.now() - first) / 1000 };
      } finally {
        conn.close();
      }
    })();
    const giveUp = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the TCP transfer did not end within ${seconds + 10} s`)),
        (seconds + 10) * 1000,
      );
    });
    const result = await Promise.race([
      Promise.all([sent, received]),
      giveUp,
      sent.then((s) => {
        if ("error" in s) throw new Error(`the TCP sender failed: ${s.error}`);
        return new Promise<never>(() => {});
      }),
    ]);
    const { bytes, seconds: took } = result[1];
    return { bytes, seconds: took, bitsPerSecond: took > 0 ? (bytes * 8) / took : 0 };
  } finally {
    clearTimeout(timer);
    worker.terminate();
    listener.close();
  }
}
