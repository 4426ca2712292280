/** The CNI_* environment a runtime sets, validated once here. Pure (takes a plain record). */
import { CniError, ErrorCode } from "./errors.ts";
import { ifNameProblem } from "../net/linux/names.ts";

export const COMMANDS = ["ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION"] as const;
export type CniCommand = (typeof COMMANDS)[number];

export interface CniEnv {
  command: CniCommand;
  containerId: string;
  /** Path of the pod's network namespace; "" when the runtime gave none (allowed for DEL). */
  netns: string;
  ifname: string;
  /** CNI_ARGS as key/value pairs, in order. */
  args: Map<string, string>;
  /** Directories to search for delegated plugins (CNI_PATH split on ':'). */
  path: string[];
}

/** Which variables each command needs (the spec's table). */
const NEEDS: Record<CniCommand, readonly ("CNI_CONTAINERID" | "CNI_NETNS" | "CNI_IFNAME")[]> = {
  ADD: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"],
  DEL: ["CNI_CONTAINERID", "CNI_IFNAME"],
  CHECK: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"],
  GC: [],
  STATUS: [],
  VERSION: [],
};

const CONTAINER_ID_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function invalid(msg: string): CniError {
  return new CniError(ErrorCode.InvalidEnvironment, msg);
}

export function parseEnv(env: Record<string, string | undefined>): CniEnv {
  const command = env.CNI_COMMAND ?? "";
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw invalid(
      command === ""
        ? `CNI_COMMAND is not set; the runtime must set it to one of ${COMMANDS.join(", ")}`
        : `CNI_COMMAND "${command}" is unknown; expected one of ${COMMANDS.join(", ")}`,
    );
  }
  const cmd = command as CniCommand;
  for (const name of NEEDS[cmd]) {
    if (!env[name]) throw invalid(`${name} is not set; ${cmd} needs it from the runtime`);
  }
  // Only the variables this command uses are checked: libcni sends VERSION with placeholders
  // such as CNI_NETNS=dummy.
  const uses = NEEDS[cmd].length > 0;
  const containerId = uses ? env.CNI_CONTAINERID ?? "" : "";
  if (containerId && !CONTAINER_ID_RE.test(containerId)) {
    throw invalid(
      `CNI_CONTAINERID "${containerId}" is invalid: it must start with a letter or digit and ` +
        "contain only letters, digits, '_', '.' and '-'",
    );
  }
  const netns = uses ? env.CNI_NETNS ?? "" : "";
  if (netns && !netns.startsWith("/")) {
    throw invalid(`CNI_NETNS "${netns}" must be an absolute path such as /run/netns/<name>`);
  }
  const ifname = uses ? env.CNI_IFNAME ?? "" : "";
  const problem = ifname ? ifNameProblem(ifname) : undefined;
  if (problem) throw invalid(`CNI_IFNAME "${ifname}" is invalid: ${problem}; choose another name`);
  return {
    command: cmd,
    containerId,
    netns,
    ifname,
    args: parseCniArgs(env.CNI_ARGS ?? ""),
    path: (env.CNI_PATH ?? "").split(":").filter((p) => p !== ""),
  };
}

/** `K=V;K2=V2` → map. A pair without '=' is error 4. */
export function parseCniArgs(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const pair of text.split(";")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    if (eq <= 0) {
      throw invalid(`CNI_ARGS has "${pair}", which is not KEY=VALUE; pairs are separated by ';'`);
    }
    out.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return out;
}
