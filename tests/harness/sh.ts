/** Running commands from tests (iproute2 and friends are the tests' independent oracle). */
import { type CommandResult, runCommand } from "../../net/linux/command.ts";

export type ShResult = CommandResult;

const dec = new TextDecoder();

/**
 * Runs a command; returns its result without throwing (code 127: not installed). The product's
 * own helper, so tests and product run tools the same way.
 */
export function shTry(cmd: string, args: string[], stdin?: string): Promise<ShResult> {
  return runCommand(cmd, args, stdin);
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

/**
 * Reads `reader` (a child's decoded output) until what it read includes `marker`; returns that
 * text. Throws, with what it read, when the stream ends first (the program exited).
 */
export async function readUntil(
  reader: ReadableStreamDefaultReader<string>,
  marker: string,
  what: string,
): Promise<string> {
  let seen = "";
  while (!seen.includes(marker)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${what}: ended before "${marker}": ${seen}`);
    seen += value;
  }
  return seen;
}
