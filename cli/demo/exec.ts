/**
 * Running a program inside a network namespace without `ip netns exec`: the child is spawned
 * while this thread is inside the namespace (spawn is synchronous), so it inherits it; waiting
 * for it happens after we are back.
 */
import { inNetns } from "../../net/linux/mod.ts";

export interface ExecOptions {
  env?: Record<string, string>;
  clearEnv?: boolean;
  stdin?: string;
  /** Milliseconds before the child is killed (SIGKILL); the result then has code 124. */
  timeoutMs?: number;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Starts `cmd` in the namespace at `netnsPath` (or here when null). */
export function spawnIn(
  netnsPath: string | null,
  cmd: string,
  args: string[],
  opts: ExecOptions & { stdout?: "piped" | "null"; stderr?: "piped" | "null" } = {},
): Deno.ChildProcess {
  const command = new Deno.Command(cmd, {
    args,
    env: opts.env,
    clearEnv: opts.clearEnv,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: opts.stdout ?? "piped",
    stderr: opts.stderr ?? "piped",
  });
  return netnsPath ? inNetns(netnsPath, () => command.spawn()) : command.spawn();
}

/** Runs `cmd` to completion in the namespace at `netnsPath` (or here when null). */
export async function execIn(
  netnsPath: string | null,
  cmd: string,
  args: string[],
  opts: ExecOptions = {},
): Promise<ExecResult> {
  const child = spawnIn(netnsPath, cmd, args, opts);
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  let timedOut = false;
  const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }, opts.timeoutMs);
  try {
    const out = await child.output();
    const dec = new TextDecoder();
    return {
      code: timedOut ? 124 : out.code,
      stdout: dec.decode(out.stdout),
      stderr: dec.decode(out.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

/** True when `cmd` is installed in a system directory. */
export function have(cmd: string): boolean {
  for (const dir of ["/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"]) {
    try {
      if (Deno.statSync(`${dir}/${cmd}`).isFile) return true;
    } catch {
      // not here
    }
  }
  return false;
}
