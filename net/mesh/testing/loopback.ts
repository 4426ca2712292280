/**
 * Real meshes on loopback for router_test.ts: the wiring of sockets, timers and the pure parts.
 * The decisions themselves (backoff, discovery, admission, liveness, forgetting, refusal logging)
 * are tested on a fake clock beside their modules; these tests only assert what needs real
 * sockets, so they wait for events, never for a fixed time.
 *
 * `until` re-checks its condition whenever a node of the test logs a line or reports a change
 * (and every 250 ms, for state that changes without either), and gives up only after a generous
 * limit: on a loaded 2-core machine a step that takes 50 ms when idle can take seconds. No
 * assertion depends on how long a step took.
 */
import { Logger } from "../../log.ts";
import type { ConnectionOptions } from "../connection.ts";
import { derivePsk } from "../crypto.ts";
import { SigningKey } from "../signing.ts";
import { Mesh, type MeshConfig } from "../router.ts";
import { FAST_MESH_TIMING } from "./fast_timing.ts";
import { TestKeyring } from "./keyring.ts";

/** Unreachable peers are forgotten quickly here: a test waits for it. */
export const LOOPBACK_TIMING = { ...FAST_MESH_TIMING, forgetAfterMs: 1_500 };

/** How long a wait may take before the test fails: far beyond any step's time under load. */
export const WAIT_LIMIT_MS = 30_000;

export interface LoopbackNode {
  mesh: Mesh;
  lines: string[];
  addr: string;
}

// A peer keeps its signing key across restarts (the daemon persists it), as these keys do.
const keyring = new TestKeyring();

export class Loopback {
  readonly #started: Mesh[] = [];
  readonly #nodes: LoopbackNode[] = [];
  #waiters: Array<() => void> = [];

  /** Starts node `i` (name 02:00:00:00:00:0i) on an ephemeral loopback port. */
  node(i: number, opts: Partial<MeshConfig> = {}): LoopbackNode {
    const lines: string[] = [];
    const name = `02:00:00:00:00:0${i}`;
    const mesh = new Mesh({
      name,
      signingKey: keyring.key(name),
      nickname: `n${i}`,
      host: "127.0.0.1",
      port: 0,
      password: null,
      connLimit: 10,
      peers: [],
      timing: LOOPBACK_TIMING,
      log: new Logger({
        json: true,
        level: "debug",
        sink: {
          write: (l) => {
            lines.push(l);
            this.#wake();
          },
        },
      }),
      ...opts,
    });
    mesh.start();
    mesh.onChange(() => this.#wake());
    this.#started.push(mesh);
    const n = { mesh, lines, addr: `127.0.0.1:${mesh.port}` };
    this.#nodes.push(n);
    return n;
  }

  /** Waits until `cond` holds; fails after `ms` with what it waited for and each node's status. */
  async until(what: string, cond: () => boolean, ms = WAIT_LIMIT_MS): Promise<void> {
    const t0 = Date.now();
    while (!cond()) {
      if (Date.now() - t0 > ms) {
        const states = this.#nodes.map((n) =>
          `${n.mesh.self}: ${n.mesh.connectionCount()} connections, peers ${
            JSON.stringify(n.mesh.peers())
          }`
        );
        throw new Error(`timed out after ${ms} ms waiting for ${what}\n${states.join("\n")}`);
      }
      await this.#next(250);
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.#started.splice(0).map((m) => m.stop()));
  }

  // Woken from inside the mesh's code: the waiter runs after it, in a task of its own.
  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) setTimeout(f, 0);
  }

  #next(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      this.#waiters.push(done);
      function done() {
        clearTimeout(timer);
        resolve();
      }
    });
  }
}

/** Every node knows every node, and each has one established connection to each other. */
export function fullMesh(nodes: LoopbackNode[]): boolean {
  return nodes.every((n) => {
    const s = n.mesh.status();
    return s.peers.length === nodes.length &&
      s.peers.every((p) =>
        p.connections.length === nodes.length - 1 && p.connections.every((c) => c.established)
      );
  });
}

/** Options for a hand-driven client connection (an attacker, or a peer that misbehaves). */
export function client(i: number, secret: string | null): ConnectionOptions {
  return {
    self: { name: `02:00:00:00:00:0${i}`, nickname: `c${i}`, uid: `000000000000000${i}`, port: 1 },
    signingKey: SigningKey.generate(),
    psk: derivePsk(secret),
    authenticated: secret !== null,
    timing: LOOPBACK_TIMING,
  };
}

/**
 * Reads everything a socket receives until the other end closes it, or `ms` pass (then this end
 * closes it: `closedByPeer` is false, so a deadline the server missed fails the test).
 */
export async function drain(
  conn: Deno.TcpConn,
  ms = WAIT_LIMIT_MS,
): Promise<{ bytes: number; closedByPeer: boolean }> {
  let bytes = 0;
  let gaveUp = false;
  const buf = new Uint8Array(4096);
  const deadline = setTimeout(() => {
    gaveUp = true;
    conn.close();
  }, ms);
  try {
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) return { bytes, closedByPeer: !gaveUp };
      bytes += n;
    }
  } finally {
    clearTimeout(deadline);
    if (!gaveUp) {
      try {
        conn.close();
      } catch {
        // already closed
      }
    }
  }
}

/** Reads exactly `n` bytes (the server's hello): proof the server accepted the socket. */
export async function readExactly(conn: Deno.TcpConn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const r = await conn.read(out.subarray(got));
    if (r === null) throw new Error(`closed after ${got} of ${n} bytes`);
    got += r;
  }
  return out;
}
