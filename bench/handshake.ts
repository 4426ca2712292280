/**
 * The control handshake's cost (issue 12: ≤ 250 ms per connection with the KDF): the scrypt step
 * once per process, then full v2 handshakes over loopback TCP (hellos, X25519, HKDF, both signed
 * identities, the client proving first). Prints medians and the spread.
 *
 *   deno task bench:handshake [ROUNDS]
 */
import { cpuUsage } from "node:process";
import { ControlConnection } from "../net/mesh/connection.ts";
import { derivePsk } from "../net/mesh/crypto.ts";
import { SigningKey } from "../net/mesh/signing.ts";
import { DEFAULT_CONNECTION_TIMING } from "../net/mesh/connection.ts";

const rounds = Number(Deno.args[0] ?? 50);

function stats(ms: number[]) {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { median: q(0.5), p10: q(0.1), p90: q(0.9), max: s[s.length - 1] };
}

const fmt = (o: Record<string, number>) =>
  Object.entries(o).map(([k, v]) => `${k} ${v.toFixed(1)} ms`).join(", ");

// Wall and CPU time: on a machine shared with other work the wall time includes waiting for a
// core, the CPU time (scrypt is one thread's work) does not.
const t0 = performance.now(), c0 = cpuUsage();
const psk = derivePsk("bench password " + crypto.randomUUID());
const scryptMs = performance.now() - t0;
const scryptCpu = cpuUsage(c0);
const scryptCpuMs = (scryptCpu.user + scryptCpu.system) / 1000;

const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
const opts = (i: number) => ({
  self: { name: `02:00:00:00:00:0${i}`, nickname: `b${i}`, uid: `000000000000000${i}`, port: 1 },
  signingKey: SigningKey.generate(),
  psk,
  authenticated: true,
  timing: DEFAULT_CONNECTION_TIMING,
});
const server = opts(1), client = opts(2);
const times: number[] = [], cpu: number[] = [];
for (let i = 0; i < rounds; i++) {
  const start = performance.now(), c = cpuUsage();
  const [inbound, outbound] = await Promise.all([
    listener.accept().then((c) => ControlConnection.handshake(c, false, server)),
    Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }).then((c) =>
      ControlConnection.handshake(c, true, client)
    ),
  ]);
  times.push(performance.now() - start);
  const used = cpuUsage(c);
  cpu.push((used.user + used.system) / 1000);
  inbound.close("done");
  outbound.close("done");
}
listener.close();
const hs = stats(times), hsCpu = stats(cpu);
console.log(
  `scrypt (once per process): ${scryptMs.toFixed(1)} ms wall, ${scryptCpuMs.toFixed(1)} ms CPU`,
);
console.log(`handshake (${rounds} over loopback, both ends in this process): ${fmt(hs)}`);
console.log(`  its CPU time (both ends): ${fmt(hsCpu)}`);
console.log(
  `first connection of a process (scrypt + handshake): ${(scryptMs + hs.median).toFixed(1)} ms ` +
    `wall, ${(scryptCpuMs + hsCpu.median).toFixed(1)} ms CPU (goal ≤ 250 ms; load average ` +
    `${Deno.loadavg()[0].toFixed(1)})`,
);
