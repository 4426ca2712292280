/**
 * Run inside a node namespace (`ip netns exec NODE deno run -A ready_watch.ts SECONDS`): polls the
 * daemon's readiness (GET 127.0.0.1:6784/status, JSON) every 10 ms and prints one JSON line per
 * change: {"code":503,"reason":"…","at":ms since 1970}. Stops after SECONDS or when stdin closes.
 */
const until = Date.now() + Number(Deno.args[0] ?? 30) * 1000;
let last = "";
let stop = false;
(async () => {
  for await (const _ of Deno.stdin.readable) {
    // drain; the loop below stops once stdin closes
  }
  stop = true;
})();
while (!stop && Date.now() < until) {
  let line: { code: number; reason: string | null };
  try {
    const r = await fetch("http://127.0.0.1:6784/status", {
      headers: { accept: "application/json" },
    });
    const body = await r.json() as { reason: string | null };
    line = { code: r.status, reason: body.reason };
  } catch (e) {
    line = { code: 0, reason: String(e) };
  }
  const key = `${line.code} ${line.reason}`;
  if (key !== last) console.log(JSON.stringify({ ...line, at: Date.now() }));
  last = key;
  await new Promise((r) => setTimeout(r, 10));
}
