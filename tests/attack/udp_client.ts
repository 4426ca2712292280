/**
 * Sends crafted UDP datagrams (built by the test with the product's sleeve format) from the
 * attacker's namespace: `{"cmd":"send","host","port","file","perSecond"}`, where the file holds
 * datagrams as u32 length ‖ bytes. Bounded by the file; paced so a 2-core machine keeps up.
 * Prints {"sent": N}.
 */
const spec = JSON.parse(Deno.args[0]);
const data = await Deno.readFile(spec.file);
const sock = Deno.listenDatagram({ transport: "udp", hostname: "0.0.0.0", port: 0 });
const dv = new DataView(data.buffer);
const every = 1000 / (spec.perSecond ?? 2000);
const t0 = performance.now();
let sent = 0;
for (let o = 0; o < data.length;) {
  const len = dv.getUint32(o);
  await sock.send(data.subarray(o + 4, o + 4 + len), {
    transport: "udp",
    hostname: spec.host,
    port: spec.port,
  });
  o += 4 + len;
  sent++;
  const ahead = sent * every - (performance.now() - t0);
  if (ahead > 5) await new Promise((r) => setTimeout(r, ahead));
}
sock.close();
console.log(JSON.stringify({ sent }));
