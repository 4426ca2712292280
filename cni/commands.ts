/** Dispatches a parsed invocation to its command (each loaded only when used). */
import type { Output } from "./main.ts";
import type { IpamContext } from "./ipam/source.ts";

export async function runCommand(ctx: IpamContext): Promise<Output> {
  switch (ctx.env.command) {
    case "ADD":
      return (await import("./add.ts")).add(ctx);
    case "DEL":
      return (await import("./del.ts")).del(ctx);
    case "CHECK":
      return (await import("./check.ts")).check(ctx);
    case "GC":
      return (await import("./gc.ts")).gc(ctx);
    case "STATUS":
      return (await import("./status.ts")).status(ctx);
    case "VERSION":
      throw new Error("VERSION is answered before the config is parsed");
  }
}
