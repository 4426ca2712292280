/** Loads the module of one command (each is imported only when used). */
import type { CniCommand } from "./env.ts";
import type { IpamContext } from "./ipam/source.ts";
import type { Output } from "./main.ts";

export type Run = (ctx: IpamContext) => Promise<Output>;

export async function loadCommand(command: Exclude<CniCommand, "VERSION">): Promise<Run> {
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
