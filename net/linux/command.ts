/**
 * Running a user-space tool to completion: the few places weavets needs one (nft scripts for the
 * bridge table, iptables-save/-restore and ipset for Weave Net's leftovers — their rules have no
 * kernel API worth re-implementing) and the tests, which use iproute2 and friends as an
 * independent oracle. One helper, so that feeding stdin, decoding the output and telling "not
 * installed" apart are done the same way everywhere.
 *
 * The child inherits the calling thread's network namespace when it is spawned (spawn is
 * synchronous); awaiting its output happens on whatever thread, which does not matter once it runs.
 */

export interface CommandResult {
  /** The exit code; 127 when the program is not installed (as a shell says). */
  code: number;
  stdout: string;
  stderr: string;
}

/** The exit code a shell gives a program it cannot find; runCommand gives it too. */
export const NOT_INSTALLED = 127;

const dec = new TextDecoder();

/**
 * Runs `cmd` with `args`, feeding `stdin` when given (else /dev/null). Resolves with its exit code
 * and output, never rejecting for a failed command; a program that is not on PATH is code 127
 * with "<cmd>: not installed" on stderr. Other failures to start it (EACCES, ...) reject.
 */
export async function runCommand(
  cmd: string,
  args: string[],
  stdin?: string,
): Promise<CommandResult> {
  let child;
  try {
    child = new Deno.Command(cmd, {
      args,
      stdin: stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      return { code: NOT_INSTALLED, stdout: "", stderr: `${cmd}: not installed` };
    }
    throw e;
  }
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}
