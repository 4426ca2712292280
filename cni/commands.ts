/**
 * Loads the module of one command (each is imported only when used): the network plugin's, or
 * the IPAM plugin's when this run is another plugin's IPAM (cni/invocation.ts).
 */
import type { Run } from "./context.ts";
import type { CniCommand } from "./env.ts";

export async function loadCommand(
  command: Exclude<CniCommand, "VERSION">,
  ipamOnly = false,
): Promise<Run> {
  if (ipamOnly) return (await import("./ipam_plugin.ts")).ipamCommand(command);
  switch (command) {
    case "ADD":
      return (await import("./add.ts")).add;
    case "DEL":
      return (await import("./del.ts")).del;
    case "CHECK":
      return (await import("./check.ts")).check;
    case "GC":
      return (await import("./gc.ts")).gc;
    case "STATUS":
      return (await import("./status.ts")).status;
  }
}
