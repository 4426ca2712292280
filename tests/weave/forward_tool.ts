/**
 * Test tool, run with `ip netns exec NODE`: applies (`apply BRIDGE`) or removes (`remove BRIDGE`)
 * the forward accept rules exactly as the daemon's component and `weavets reset` do, in that
 * node's namespace; prints the result as one JSON line.
 */
import { log } from "../../net/log.ts";
import {
  applyForward,
  nodeForwardIo,
  removeForward,
} from "../../net/dataplane/node/forward_filter.ts";

const [what, bridge] = Deno.args;
const io = nodeForwardIo();
if (what === "apply") console.log(JSON.stringify(await applyForward(io, bridge, log)));
else if (what === "remove") console.log(JSON.stringify(await removeForward(io, bridge)));
else throw new Error("usage: forward_tool.ts apply|remove BRIDGE");
