/// <reference lib="deno.worker" />
/**
 * Worker for tap_worker_test.ts: reads frames from a TAP fd with synchronous FFI (as the data
 * plane does) and posts the first ARP frame back.
 */
import { readFd, waitReadable } from "../../net/linux/mod.ts";

self.onmessage = (e: MessageEvent<{ fd: number }>) => {
  const buf = new Uint8Array(65536);
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    if (!waitReadable(e.data.fd, 100)) continue;
    const n = readFd(e.data.fd, buf);
    if (n >= 14 && buf[12] === 0x08 && buf[13] === 0x06) {
      self.postMessage({ frame: buf.slice(0, n) });
      return;
    }
  }
  self.postMessage({ error: "no ARP frame within 5 s" });
};
