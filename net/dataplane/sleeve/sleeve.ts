/**
 * The userspace path ("sleeve") on one node: a TAP port on the bridge and two Workers — TAP → UDP
 * and UDP → TAP — running synchronous FFI loops off the main event loop. The main thread only
 * starts them, feeds them the peer and route table (addresses, paths, gossiped MACs, next hops,
 * broadcast trees: forward.ts) and the session keys (keys.ts), and reads stats.
 * The TAP and the UDP socket are opened here, on the calling thread, so they live in its network
 * namespace; the Workers only use the fds.
 */
import {
  closeFd,
  closeTap,
  openTap,
  setLinkUp,
  setMaster,
  setMtu,
  TUN_F_CSUM,
  TUN_F_TSO4,
  TUN_F_TSO6,
  TUN_F_TSO_ECN,
  writeFd,
} from "../../linux/mod.ts";
import { buildProbe, PROBE_REQUEST, probeMac } from "../fastpath/probe.ts";
import { parseMac } from "../../addr/mod.ts";
import { VNET_HDR_LEN } from "./format.ts";
import { openSleeveSocket, type SleeveSocket } from "./socket.ts";
import { SleeveKeyRing } from "./keys.ts";
import { originBroadcastHops } from "./forward.ts";
import type { DataKey } from "../../mesh/gossip_channel.ts";
import {
  readStats,
  type SleeveControl,
  type SleevePeer,
  type SleeveReport,
  type SleeveStats,
  type SleeveWorkerInit,
  STAT_COUNT,
} from "./messages.ts";

export interface SleeveOptions {
  /** TAP device name (e.g. "vethwe-tap"); attached to `bridge` when given. */
  tapName: string;
  bridge?: string;
  /** UDP port (6783). */
  port: number;
  /** The underlay path MTU: no datagram we send exceeds it. */
  underlayMtu: number;
  /** Pod-network MTU: larger non-GSO DF packets get ICMP "fragmentation needed". */
  mtu: number;
  /** This peer's name. */
  self: string;
  /** 16 hex digits, new each start: unencrypted messages carry it (reassembly tells lives apart). */
  epoch: string;
  /**
   * Every message is sealed under the pair's session keys (from the control connection, see
   * `setPeers`), and plaintext is refused.
   */
  encrypted: boolean;
  /** After a reconnection, how long the previous connection's key still opens messages. */
  keyGraceMs?: number;
  /** Learned MACs expire after this long unseen (Weave: 10 min). */
  macTtlMs?: number;
  /** Called when a fast-path probe reply arrives (probe MAC of the answering peer). */
  onProbeReply?: (from: string, seq: number) => void;
}

export class SleeveError extends Error {
  override name = "SleeveError";
}

const TAP_MTU = 65521; // the largest a TAP takes (64 KiB minus the Ethernet header and a margin)
const OFFLOADS = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;

export class Sleeve {
  readonly #workers: Worker[];
  readonly #stats: SharedArrayBuffer;
  readonly #keys: SleeveKeyRing;
  #stopped = false;

  private constructor(
    readonly opts: SleeveOptions,
    readonly tapFd: number,
    readonly socket: SleeveSocket,
    workers: Worker[],
    stats: SharedArrayBuffer,
  ) {
    this.#workers = workers;
    this.#stats = stats;
    this.#keys = new SleeveKeyRing(opts.self, opts.keyGraceMs);
  }

  /** Opens the TAP and socket here, then starts both Workers; resolves when both run. */
  static async start(opts: SleeveOptions): Promise<Sleeve> {
    const segSize = opts.underlayMtu - 28;
    const tap = openTap(opts.tapName, { vnetHdr: true, offloads: OFFLOADS, nonBlocking: true });
    let socket: SleeveSocket | undefined;
    const workers: Worker[] = [];
    try {
      // The TAP takes any frame the bridge has, so one too large for the pod network reaches the
      // sending Worker, which answers "fragmentation needed" instead of the bridge dropping it.
      setMtu(tap.name, TAP_MTU);
      if (opts.bridge) setMaster(tap.name, opts.bridge);
      setLinkUp(tap.name);
      socket = openSleeveSocket(opts.port, segSize);
      const stats = new SharedArrayBuffer(STAT_COUNT * 8);
      const channel = new MessageChannel();
      const ready: Promise<void>[] = [];
      for (const role of ["tx", "rx"] as const) {
        const w = new Worker(new URL(`./${role}_worker.ts`, import.meta.url), {
          type: "module",
        });
        workers.push(w);
        ready.push(
          new Promise((resolve, reject) => {
            w.onmessage = (e: MessageEvent<SleeveReport>) => {
              if (e.data.type === "probe-reply") opts.onProbeReply?.(e.data.from, e.data.seq);
              else if (e.data.type === "ready") resolve();
              else if (e.data.type === "error") {
                reject(new SleeveError(`sleeve ${role} worker: ${e.data.message}`));
              }
            };
            w.onerror = (e) => {
              e.preventDefault();
              reject(new SleeveError(`sleeve ${role} worker: ${e.message}`));
            };
          }),
        );
        const init: SleeveWorkerInit = {
          type: "init",
          role,
          tapFd: tap.fd,
          udpFd: socket.fd,
          segSize,
          gso: socket.gso,
          mtu: opts.mtu,
          self: opts.self,
          epoch: opts.epoch,
          encrypted: opts.encrypted,
          macTtlMs: opts.macTtlMs ?? 600_000,
          probeMac: probeMac(opts.self),
          stats,
          port: role === "tx" ? channel.port1 : channel.port2,
        };
        w.postMessage(init, [init.port]);
      }
      await Promise.all(ready);
      return new Sleeve(opts, tap.fd, socket, workers, stats);
    } catch (e) {
      for (const w of workers) w.terminate();
      if (socket) closeFd(socket.fd);
      closeTap(tap);
      throw e;
    }
  }

  #lastPeers = "";

  /**
   * Replaces the peer and route tables in both Workers; no-op if nothing changed. `neighbours`
   * are this peer's children in its own broadcast tree (MeshView.broadcastChildren(self)).
   * Encrypted, `sessions` are the data keys of the control connections established now
   * (MeshView.dataKey), per neighbour: nothing goes through a neighbour without one until it has
   * one. Returns the ids of keys refused because they had been used before (a mesh bug: logged
   * by the caller).
   */
  setPeers(
    peers: SleevePeer[],
    neighbours: string[],
    sessions: ReadonlyMap<string, DataKey>,
  ): string[] {
    const refused = this.opts.encrypted ? this.#keys.sync(sessions, Date.now()) : [];
    const keys = this.opts.encrypted ? this.#keys.all() : [];
    const summary = keys.map((k) => [k.peer, k.tx?.id, k.rx.map((r) => [r.id, r.until])]);
    const list = peers.filter((p) => p.name !== this.opts.self);
    const broadcast = originBroadcastHops(neighbours, list);
    const key = JSON.stringify([list, broadcast, summary]);
    if (key === this.#lastPeers) return refused;
    this.#lastPeers = key;
    const msg: SleeveControl = { type: "peers", peers: list, broadcast, keys };
    for (const w of this.#workers) w.postMessage(msg);
    return refused;
  }

  /**
   * Sends a fast-path probe to `peer` by writing it into the TAP: the bridge passes it to the
   * VXLAN device, whose FDB sends it to that peer.
   */
  sendProbe(peer: string, seq: number): void {
    const frame = buildProbe(
      parseMac(probeMac(peer)),
      parseMac(probeMac(this.opts.self)),
      PROBE_REQUEST,
      seq,
    );
    const buf = new Uint8Array(VNET_HDR_LEN + frame.length);
    buf.set(frame, VNET_HDR_LEN);
    writeFd(this.tapFd, buf);
  }

  stats(): SleeveStats {
    return readStats(this.#stats);
  }

  /** Stops both Workers (they finish their current batch), then closes the socket and TAP. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await Promise.all(this.#workers.map((w) =>
      new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 2000);
        w.onmessage = (e: MessageEvent<SleeveReport>) => {
          if (e.data.type === "probe-reply") this.opts.onProbeReply?.(e.data.from, e.data.seq);
          else if (e.data.type === "stopped") {
            clearTimeout(t);
            resolve();
          }
        };
        w.postMessage({ type: "stop" } satisfies SleeveControl);
      })
    ));
    for (const w of this.#workers) w.terminate();
    closeFd(this.socket.fd);
    closeTap({ fd: this.tapFd, name: this.opts.tapName });
  }
}
