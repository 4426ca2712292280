/** Running commands from tests (iproute2 and friends are the tests' independent oracle). */

export interface ShResult {
  code: number;
  stdout: string;
  stderr: string;
}

const dec = new TextDecoder();

/** Runs a command; returns its result without throwing. */
export async function shTry(cmd: string, args: string[], stdin?: string): Promise<ShResult> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Runs a command; throws with its stderr when it fails. Returns stdout. */
export async function sh(cmd: string, ...args: string[]): Promise<string> {
  const r = await shTry(cmd, args);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${r.code}): ${r.stderr.trim()}`);
  }
  return r.stdout;
}

/** Synchronous variant, for cleanup paths that must not await. */
export function shSync(cmd: string, ...args: string[]): ShResult {
  const out = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).outputSync();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** `ip -j ...` parsed (optionally inside a named netns). */
export async function ipJson<T = unknown>(netns: string | null, ...args: string[]): Promise<T> {
  const full = netns ? ["-n", netns, "-j", ...args] : ["-j", ...args];
  const out = await sh("ip", ...full);
  return (out.trim() ? JSON.parse(out) : []) as T;
}
