import { VERSION } from "../version.ts";

export function run(args: string[]): Promise<number> {
  if (args.includes("--json")) {
    console.log(JSON.stringify({ version: VERSION, deno: Deno.version.deno }));
  } else {
    console.log(`weavets ${VERSION} (deno ${Deno.version.deno})`);
  }
  return Promise.resolve(0);
}
