/**
 * mesh_client.ts commands that exhaust the victim's resources: `stall` (sockets that send a few
 * bytes and stall), `fill` (completed handshakes held as distinct fake peers), `half` (half-sent
 * frames).
 */
import { describeCause } from "../../net/cause.ts";
import type { ControlConnection } from "../../net/mesh/connection.ts";
import { close, connect, exists, host, port, sleep, spec, unb64 } from "./mesh_client_base.ts";

export async function stall(): Promise<unknown> {
  const bytes = unb64(spec.bytes);
  const end = Date.now() + spec.durationMs;
  // The test ends the flood early by creating `stopFile`.
  const going = () => Date.now() < end && !exists(spec.stopFile);
  let opened = 0, refusedFast = 0, maxHeldMs = 0;
  const open = async (): Promise<void> => {
    while (going() && opened < spec.maxOpens) {
      opened++;
      const t0 = Date.now();
      let conn: Deno.TcpConn;
      try {
        conn = await Deno.connect({ hostname: host, port });
      } catch {
        await sleep(200);
        continue;
      }
      await conn.write(bytes).catch(() => {});
      // Held until the victim closes it (read returns null or throws) or the attack ends.
      const buf = new Uint8Array(4096);
      const timer = setTimeout(() => close(conn), Math.max(0, end - Date.now()));
      try {
        while ((await conn.read(buf)) !== null) { /* the victim's hello */ }
      } catch {
        // reset
      }
      clearTimeout(timer);
      close(conn);
      const held = Date.now() - t0;
      if (held < 200) refusedFast++;
      maxHeldMs = Math.max(maxHeldMs, held);
      if (held < 200) await sleep(300);
    }
  };
  await Promise.all(Array.from({ length: spec.count }, open));
  return { opened, refusedFast, maxHeldMs };
}

export async function fill(): Promise<unknown> {
  const conns: ControlConnection[] = [];
  const reasons = new Map<string, number>();
  const batch = 10;
  for (let i = 0; i < spec.count; i += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, spec.count - i) }, async (_, k) => {
      try {
        const c = await connect(1000 + i + k);
        c.start({ onMessage() {}, onClose: () => {}, known: () => true });
        conns.push(c);
      } catch (e) {
        const r = describeCause(e);
        reasons.set(r, (reasons.get(r) ?? 0) + 1);
      }
    }));
  }
  const established = conns.length;
  // A slot that frees up (a real peer restarting) is taken again at once: that is the attack.
  const until = Date.now() + spec.holdMs;
  let topUps = 0;
  for (let i = spec.count; Date.now() < until && i < spec.count + 500; i++) {
    const live = conns.filter((c) => !c.closed).length;
    if (live < spec.count) {
      try {
        const c = await connect(1000 + i);
        c.start({ onMessage() {}, onClose: () => {}, known: () => true });
        conns.push(c);
        topUps++;
      } catch {
        // refused: the limit holds
      }
    }
    await sleep(100);
  }
  const survived = conns.filter((c) => !c.closed).length;
  for (const c of conns) c.close("attack done");
  return { established, survived, topUps, refused: Object.fromEntries(reasons) };
}

export async function half(): Promise<unknown> {
  const conns: ControlConnection[] = [];
  let sent = 0, failed = 0;
  const head = new Uint8Array(4);
  new DataView(head.buffer).setUint32(0, spec.frameLen);
  const chunk = new Uint8Array(1 << 20);
  await Promise.all(Array.from({ length: spec.count }, async (_, i) => {
    let c: ControlConnection;
    try {
      c = await connect(2000 + i);
    } catch {
      failed++;
      return;
    }
    c.start({ onMessage() {}, onClose: () => {}, known: () => true });
    conns.push(c);
    try {
      await c.conn.write(head);
      for (let o = 0; o < spec.sendLen;) {
        const n = await c.conn.write(chunk.subarray(0, Math.min(chunk.length, spec.sendLen - o)));
        o += n;
        sent += n;
      }
    } catch {
      // the victim closed it: what a protected build does
    }
  }));
  const until = Date.now() + spec.holdMs;
  while (Date.now() < until) {
    // One byte now and then keeps a "dead connection" timer from firing (as in the review).
    for (const c of conns) if (!c.closed) await c.conn.write(new Uint8Array(1)).catch(() => {});
    await sleep(1_000);
  }
  const survived = conns.filter((c) => !c.closed).length;
  for (const c of conns) c.close("attack done");
  return { established: conns.length, failed, sent, survived };
}
