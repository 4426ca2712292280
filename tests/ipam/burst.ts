/**
 * Run inside a node namespace by netns_e2e_test.ts: allocates `count` addresses through the local
 * daemon's HTTP API (`POST /ip/{prefix}{i}?ifname=eth0`), `parallel` at a time, and prints one line
 * per acknowledged allocation: "id ip". Failed requests print "id ERR status reason".
 *   deno run -A burst.ts PREFIX FROM COUNT PARALLEL [ADDR]
 */
import { describeCause } from "../../net/cause.ts";

const [prefix, from, count, parallel, addr = "127.0.0.1:6784"] = Deno.args;
let next = Number(from);
const end = Number(from) + Number(count);
const enc = new TextEncoder();
const say = (line: string) => Deno.stdout.writeSync(enc.encode(line + "\n"));

async function worker() {
  while (next < end) {
    const id = `${prefix}${next++}`;
    try {
      const r = await fetch(`http://${addr}/ip/${id}?ifname=eth0`, {
        method: "POST",
        signal: AbortSignal.timeout(20_000),
      });
      const body = (await r.text()).trim();
      say(r.ok ? `${id} ${body}` : `${id} ERR ${r.status} ${body}`);
    } catch (e) {
      say(`${id} ERR 0 ${describeCause(e)}`);
    }
  }
}
await Promise.all(Array.from({ length: Number(parallel) }, worker));
