/**
 * Removes a secret from this process's environment for good: from the variables children
 * inherit (Deno.env), and from the memory /proc/<pid>/environ shows, which unsetenv leaves as
 * it was (the kernel reports the block the process started with). Linux only; best effort: where
 * /proc/self/mem cannot be written the variable is still gone for children.
 */
export function scrubEnv(name: string): void {
  if (Deno.env.get(name) === undefined) return;
  Deno.env.delete(name);
  try {
    const stat = Deno.readTextFileSync("/proc/self/stat");
    // After "(comm) ", fields start at field 3; env_start is field 50 (proc(5)).
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const envStart = Number(fields[50 - 3]);
    const env = Deno.readFileSync("/proc/self/environ");
    const key = new TextEncoder().encode(`${name}=`);
    for (let i = 0; i + key.length <= env.length; i++) {
      if ((i > 0 && env[i - 1] !== 0) || !key.every((b, j) => env[i + j] === b)) continue;
      const end = env.indexOf(0, i) < 0 ? env.length : env.indexOf(0, i);
      const mem = Deno.openSync("/proc/self/mem", { read: true, write: true });
      try {
        mem.seekSync(envStart + i + key.length, Deno.SeekMode.Start);
        mem.writeSync(new Uint8Array(end - i - key.length).fill(0x2a)); // '*'
      } finally {
        mem.close();
      }
    }
  } catch {
    // Not Linux, or /proc/self/mem not writable: children still do not inherit it.
  }
}
