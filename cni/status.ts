/** STATUS (1.1.0): can this plugin set up pods now? Errors 50/51 say why not. */
import { type IpamContext, ipamSource } from "./ipam/source.ts";

export async function status(ctx: IpamContext): Promise<undefined> {
  await (await ipamSource(ctx)).status();
  return undefined;
}
