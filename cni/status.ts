/** STATUS (1.1.0): can this plugin set up pods now? Errors 50/51 say why not. */
import type { CommandContext } from "./context.ts";
import { ipamSource } from "./ipam/source.ts";

export async function status(ctx: CommandContext): Promise<undefined> {
  await (await ipamSource(ctx)).status();
  return undefined;
}
