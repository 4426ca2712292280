/**
 * Sends crafted UDP datagrams (built by the test with the product's sleeve format) from the
 * attacker's namespace: `{"cmd":"send","host","port","file","perSecond"}`, where the file holds
 * datagrams as u32 length ‖ bytes. Bounded by the file; paced so a 2-core machine keeps up.
 * Prints {"sent": N}. With `"spoof": {"ifname","dstMac","ip","port"}` each datagram is a raw IPv4
 * packet whose source is that address and port (a peer's, forged past the input allow-list).
 */
import { sendSpoofedUdp } from "./raw_udp.ts";

const spec = JSON.parse(Deno.args[0]);
const data = await Deno.readFile(spec.file);
const sock = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: 0 });
const dv = new DataView(data.buffer);
const every = 1000 / (spec.perSecond ?? 2000);
const t0 = performance.now();
let sent = 0;
for (let o = 0; o < data.length;) {
  const len = dv.getUint32(o);
  const payload = data.subarray(o + 4, o + 4 + len);
  if (spec.spoof) {
    const { ifname, dstMac, ip, port } = spec.spoof;
    sendSpoofedUdp(ifname, dstMac, { ip, port }, { ip: spec.host, port: spec.port }, payload);
  } else await sock.send(payload, { transport: "udp", hostname: spec.host, port: spec.port });
  o += 4 + len;
  sent++;
  const ahead = sent * every - (performance.now() - t0);
  if (ahead > 5) await new Promise((r) => setTimeout(r, ahead));
}
sock.close();
console.log(JSON.stringify({ sent }));
