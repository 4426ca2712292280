/**
 * TEST DOUBLE: real Meshes on a virtual clock and an in-memory network (virtual.ts), node i on
 * host 10.0.0.i port 6783, keeping what each logged with its virtual time (a run's trace).
 */
import { Logger } from "../../log.ts";
import { Mesh, type MeshConfig } from "../router.ts";
import { FAST_MESH_TIMING } from "./fast_timing.ts";
import { TestKeyring } from "./keyring.ts";
import { MemoryNetwork, VirtualClock, virtualRuntime } from "./virtual.ts";

/** Unreachable peers are forgotten after 1.5 s here. */
export const VIRTUAL_TIMING = { ...FAST_MESH_TIMING, forgetAfterMs: 1_500 };
export const PORT = 6783;
export const ip = (i: number) => `10.0.0.${i}`;
export const addr = (i: number) => `${ip(i)}:${PORT}`;

// A peer keeps its signing key across restarts (the daemon persists it), as these keys do.
const keyring = new TestKeyring();

export class VirtualMeshes {
  readonly clock = new VirtualClock();
  readonly net = new MemoryNetwork(this.clock);
  readonly meshes: Mesh[] = [];
  /** "time node msg peer reason" for every line logged at info or above. */
  readonly trace: string[] = [];
  /** Each node's raw log lines, by node number. */
  readonly lines = new Map<number, string[]>();

  node(i: number, opts: Partial<MeshConfig> = {}): Mesh {
    const name = `02:00:00:00:00:0${i}`;
    const lines = this.lines.get(i) ?? [];
    this.lines.set(i, lines);
    const mesh = new Mesh({
      name,
      signingKey: keyring.key(name),
      nickname: `n${i}`,
      host: ip(i),
      port: PORT,
      password: null,
      connLimit: 10,
      peers: [],
      timing: VIRTUAL_TIMING,
      runtime: virtualRuntime(this.clock, this.net, ip(i)),
      log: new Logger({
        json: true,
        level: "info",
        sink: {
          write: (l) => {
            lines.push(l);
            const { msg, peer, address, reason } = JSON.parse(l);
            this.trace.push(
              `${this.clock.now()} n${i} ${msg} ${peer ?? address ?? ""} ${reason ?? ""}`,
            );
          },
        },
      }),
      ...opts,
    });
    mesh.start();
    this.meshes.push(mesh);
    return mesh;
  }

  async stop(): Promise<void> {
    await Promise.all(this.meshes.map((m) => m.stop()));
  }
}

/** Every mesh has one established connection to each other and sees all as reachable. */
export function fullMesh(meshes: Mesh[]): boolean {
  return meshes.every((m) =>
    m.connectionCount() === meshes.length - 1 && m.peers().length === meshes.length &&
    m.peers().every((p) => p.reachable)
  );
}
