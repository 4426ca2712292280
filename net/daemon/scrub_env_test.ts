import assert from "node:assert/strict";

Deno.test("scrubEnv: the password leaves the environment, /proc/self/environ and children's", async () => {
  const script = `
    import { scrubEnv } from ${JSON.stringify(new URL("./scrub_env.ts", import.meta.url).href)};
    scrubEnv("WEAVE_PASSWORD");
    const own = new TextDecoder().decode(Deno.readFileSync("/proc/self/environ"));
    const child = new Deno.Command("sh", { args: ["-c", "env"] }).outputSync();
    console.log(JSON.stringify({ own, child: new TextDecoder().decode(child.stdout) }));
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    env: { WEAVE_PASSWORD: "wtpw-7d1e-secret", KEEP: "yes" },
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const { own, child } = JSON.parse(new TextDecoder().decode(out.stdout));
  assert.ok(!own.includes("wtpw-7d1e-secret"), "gone from /proc/self/environ");
  assert.ok(own.includes("KEEP=yes"), "the rest of the environment is untouched");
  assert.ok(!child.includes("WEAVE_PASSWORD"), "not inherited");
  assert.ok(child.includes("KEEP=yes"));
});
