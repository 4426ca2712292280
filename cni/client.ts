/**
 * The plugin's start-up path. Every pod event starts a process, so this loads almost nothing: it
 * hands the event to the daemon of this node (cni/server.ts), which runs it with everything
 * already loaded, and prints the answer. When no daemon serves this node (not started, stopped,
 * an old version) or the daemon cannot do this event, the plugin runs it itself
 * (cni/execute.ts): the same code, so the result is the same, only slower.
 */
import { type CniReply, type CniRequest, cniSocketPath, MAX_REQUEST_BYTES } from "./socket.ts";
import { readStdinSync, StdinTooLarge } from "./stdin.ts";

export async function runPlugin(): Promise<number> {
  const env = Deno.env.toObject();
  let stdin: string;
  try {
    stdin = readStdinSync();
  } catch (e) {
    const { stdinFailure } = await import("./execute.ts");
    return printOutcome(stdinFailure(e, e instanceof StdinTooLarge ? e.partial : ""));
  }
  const execName = execNameOf(Deno.execPath());
  const socket = cniSocketPath();
  const reply = await viaDaemon(socket, { env, stdin, execName });
  if (reply === "broken" && env.CNI_COMMAND === "ADD") {
    const { abandonAdd } = await import("./execute.ts");
    return printOutcome(await abandonAdd(env, stdin));
  }
  if (typeof reply === "object" && !("fallback" in reply)) return printOutcome(reply);
  const { executeCni } = await import("./execute.ts");
  const outcome = await executeCni(env, stdin, { execName });
  if (outcome.unexpected instanceof Error) console.error(outcome.unexpected.stack);
  const command = env.CNI_COMMAND;
  if (
    typeof reply === "object" && outcome.code === 0 && (command === "ADD" || command === "DEL") &&
    !await ipamOnly(stdin, execName)
  ) {
    // The daemon is up but left this one to the plugin: its hooks must still learn of the pod
    // (NetworkPolicy binds a new pod's addresses, so its rules are loaded before the pod can
    // send). A refusal or a daemon gone meanwhile leaves the pod as the API server describes it.
    await viaDaemon(socket, { env, stdin: "", execName, done: outcome.output ?? {} });
  }
  return printOutcome(outcome);
}

/**
 * Whether this run was only another plugin's IPAM (weave-ipam): that plugin made the interface,
 * which the daemon cannot check as this plugin's, so nothing is told (the pod opens once the API
 * server reports its address, as before). Loaded only after a fallback.
 */
async function ipamOnly(stdin: string, execName: string | undefined): Promise<boolean> {
  const { isIpamInvocation } = await import("./invocation.ts");
  try {
    return isIpamInvocation(JSON.parse(stdin), execName);
  } catch {
    return false;
  }
}

/** Prints an outcome as the spec wants (the object on stdout, diagnostics on stderr). */
function printOutcome(o: Exclude<CniReply, { fallback: string }>): number {
  if (o.output) Deno.stdout.writeSync(new TextEncoder().encode(JSON.stringify(o.output) + "\n"));
  if (o.message) console.error(o.message);
  return o.code;
}

/**
 * The file name the plugin was exec'd by (weavets, weave-net, weave-ipam: cni/invocation.ts), or
 * undefined when that is Deno's own (a launcher script). No imports: kept here.
 */
export function execNameOf(execPath: string): string | undefined {
  const name = execPath.slice(execPath.lastIndexOf("/") + 1);
  return name === "deno" || name === "" ? undefined : name;
}

/**
 * Sends one event to the daemon at `path`. "unreachable" when nothing listens there: the caller
 * does the work itself. "broken" when the exchange broke before an answer (the daemon died while
 * working on it): the caller does the work itself too, which is safe for every command but ADD,
 * whose half-made interface must go first (cni/execute.ts abandonAdd).
 */
export async function viaDaemon(
  path: string,
  req: CniRequest,
): Promise<CniReply | "unreachable" | "broken"> {
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path });
  } catch {
    return "unreachable";
  }
  try {
    const body = new TextEncoder().encode(JSON.stringify(req));
    // Larger than the daemon reads: the plugin does the work (and says what is wrong) itself.
    if (body.length > MAX_REQUEST_BYTES) return "unreachable";
    for (let off = 0; off < body.length;) off += await conn.write(body.subarray(off));
    await conn.closeWrite();
    return asReply(JSON.parse(await readAll(conn))) ?? "broken";
  } catch {
    return "broken";
  } finally {
    try {
      conn.close();
    } catch {
      // already closed by reading to the end
    }
  }
}

/**
 * Checks the daemon's answer by hand rather than with zod: zod's import alone costs ~20 ms, paid
 * on every pod event, and this shape comes from our own daemon over a root-only socket.
 */
function asReply(v: unknown): CniReply | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const r = v as Record<string, unknown>;
  if (typeof r.fallback === "string") return { fallback: r.fallback };
  if (typeof r.code !== "number" || !Number.isInteger(r.code)) return undefined;
  if (r.output !== undefined && (typeof r.output !== "object" || r.output === null)) {
    return undefined;
  }
  if (r.message !== undefined && typeof r.message !== "string") return undefined;
  return {
    code: r.code,
    output: r.output as Record<string, unknown> | undefined,
    message: r.message as string | undefined,
  };
}

async function readAll(conn: Deno.Conn): Promise<string> {
  let text = "";
  const dec = new TextDecoder();
  const buf = new Uint8Array(64 * 1024);
  for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
    text += dec.decode(buf.subarray(0, n), { stream: true });
  }
  return text + dec.decode();
}
