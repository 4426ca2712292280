/**
 * A hostile mesh client, built from the product's own connection, handshake and codec modules so
 * it follows protocol changes. Run inside the attacker's namespace by tests/attack/*_test.ts:
 *
 *   mesh_client.ts '{"cmd": ..., ...}'   → prints one JSON line with what happened
 *
 * Commands (every loop bounded in count and time):
 * - join: handshake as a made-up peer, collect what the victim sends per channel, send `send`
 *   messages (crafted by the test), hold `holdMs` (or until `stopFile` exists), sending what the
 *   test drops into `inbox` meanwhile: a rogue member that stays connected across steps.
 * - stall: keep `count` sockets that sent `bytes` and then stall, reopening refused ones, for
 *   `durationMs` (at most `maxOpens` sockets in all).
 * - fill: complete `count` handshakes as distinct fake peers and hold them with heartbeats.
 * - half: `count` fake peers each send `sendLen` bytes of a `frameLen`-byte frame and stall.
 * - topo: one topology gossip of `entries` fake peers (the largest the limits allow when 0).
 * - oracle: connect without knowing the password; test `guesses` offline on what the victim sent.
 * - listen: accept TCP on `ports` for `durationMs` and count connections (dials to us).
 */
import { spec } from "./mesh_client_base.ts";
import { fill, half, stall } from "./mesh_client_flood.ts";
import { join, topo } from "./mesh_client_member.ts";
import { listen, oracle } from "./mesh_client_probe.ts";

const cmds: Record<string, () => Promise<unknown>> = {
  join,
  stall,
  fill,
  half,
  topo,
  oracle,
  listen,
};
const out = await cmds[spec.cmd]();
console.log(JSON.stringify(out));
Deno.exit(0);
