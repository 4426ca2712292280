/** `weavets cni` (or `weavets` with CNI_COMMAND set): the CNI plugin. See cni/client.ts. */
import { UsageError } from "./command.ts";

export async function run(args: string[]): Promise<number> {
  if (args.length > 0) {
    if (args[0] === "--help" || args[0] === "-h") {
      console.log(
        "usage: weavets cni   (run by a container runtime: CNI_COMMAND, CNI_CONTAINERID, " +
          "CNI_NETNS,\n  CNI_IFNAME, CNI_ARGS, CNI_PATH in the environment, the network config " +
          "on stdin)\n  Installed as weave-net too (Weave Net's conflist entry), and as " +
          "weave-ipam: the IPAM plugin of\n  another plugin's config.",
      );
      return 0;
    }
    throw new UsageError(`takes no arguments, got "${args.join(" ")}"`);
  }
  const { runPlugin } = await import("../cni/client.ts");
  return await runPlugin();
}
