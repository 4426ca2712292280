/**
 * The sending side of the demo's TCP transfer (probes.ts). Started while the main thread is inside
 * the client pod's network namespace, so this thread, and the socket it connects, stay there.
 */
/// <reference lib="deno.worker" />
import { describeCause } from "../../net/cause.ts";
import type { TcpSendRequest, TcpSendResult } from "./tcp_messages.ts";

const CHUNK = new Uint8Array(256 * 1024);

async function send(req: TcpSendRequest): Promise<TcpSendResult> {
  const conn = await Deno.connect({ hostname: req.host, port: req.port });
  let bytes = 0;
  try {
    const end = performance.now() + req.seconds * 1000;
    while (performance.now() < end) bytes += await conn.write(CHUNK);
  } finally {
    conn.close();
  }
  return { bytes };
}

self.onmessage = async (e: MessageEvent<TcpSendRequest>) => {
  let result: TcpSendResult;
  try {
    result = await send(e.data);
  } catch (err) {
    result = { error: describeCause(err) };
  }
  self.postMessage(result);
};
