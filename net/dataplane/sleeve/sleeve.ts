/**
 * The userspace path ("sleeve") on one node: a TAP port on the bridge and two Workers — TAP → UDP
 * and UDP → TAP — running synchronous FFI loops off the main event loop. The main thread starts
 * them, feeds them the peer and route table (addresses, paths, gossiped MACs, next hops,
 * broadcast trees: forward.ts) and the session keys (keys.ts), reads stats, and supervises them
 * (supervisor.ts): a Worker that dies is logged, counted and started again with what it had —
 * the last peer table, its counters and replay windows (shared.ts) — and `health()` says why the
 * path is not ready meanwhile. The TAP and the UDP socket are opened here, on the calling thread,
 * so they live in its network namespace; the Workers only use the fds.
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
import { log as rootLog } from "../../log.ts";
import { VNET_HDR_LEN } from "./format.ts";
import { openSleeveSocket, type SleeveSocket } from "./socket.ts";
import { SleeveKeyRing } from "./keys.ts";
import { originBroadcastHops } from "./forward.ts";
import type { DataKey } from "../../mesh/gossip_channel.ts";
import {
  readStats,
  type SleeveControl,
  type SleevePeer,
  type SleevePeersUpdate,
  type SleeveReport,
  type SleeveStats,
  type SleeveWorkerInit,
  STAT_COUNT,
  type WorkerRole,
} from "./messages.ts";
import { SleeveShared } from "./shared.ts";
import { DEFAULT_RESTART, type RestartTiming, sleeveHealth, WorkerLife } from "./supervisor.ts";
import { WeavetsError } from "../../errors.ts";

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
  /** Called when a fast-path probe request arrives (probe MAC of the asking peer). */
  onProbeRequest?: (from: string) => void;
  restart?: Partial<RestartTiming>;
  /**
   * The module each Worker runs (default: ./tx_worker.ts and ./rx_worker.ts). Tests substitute a
   * module that wraps the real one and can be made to fail.
   */
  workerUrl?: (role: WorkerRole) => URL;
}

const TAP_MTU = 65521; // the largest a TAP takes (64 KiB minus the Ethernet header and a margin)
const OFFLOADS = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;
const ROLES = ["tx", "rx"] as const;
const WATCH_MS = 1000;

interface Slot {
  worker?: Worker;
  generation: number;
  life: WorkerLife;
  timer?: ReturnType<typeof setTimeout>;
  /** Resolves when it first reports ready (or rejects if it dies before). */
  ready?: { resolve(): void; reject(e: Error): void };
}

export class Sleeve {
  readonly #log = rootLog.with({ component: "dataplane", part: "sleeve" });
  readonly #stats = new SharedArrayBuffer(STAT_COUNT * 8);
  readonly #shared = new SleeveShared();
  readonly #keys: SleeveKeyRing;
  readonly #timing: RestartTiming;
  readonly #slots: Record<WorkerRole, Slot>;
  #watch?: ReturnType<typeof setInterval>;
  #peersMsg: SleevePeersUpdate | undefined;
  #lastPeers = "";
  #stopped = false;

  private constructor(
    readonly opts: SleeveOptions,
    readonly tapFd: number,
    readonly socket: SleeveSocket,
    readonly segSize: number,
  ) {
    this.#keys = new SleeveKeyRing(opts.self, opts.keyGraceMs);
    this.#timing = { ...DEFAULT_RESTART, ...opts.restart };
    const now = Date.now();
    this.#slots = {
      tx: { generation: 0, life: new WorkerLife("tx", this.#timing, now) },
      rx: { generation: 0, life: new WorkerLife("rx", this.#timing, now) },
    };
  }

  /** Opens the TAP and socket here, then starts both Workers; resolves when both run. */
  static async start(opts: SleeveOptions): Promise<Sleeve> {
    const segSize = opts.underlayMtu - 28;
    const tap = openTap(opts.tapName, { vnetHdr: true, offloads: OFFLOADS, nonBlocking: true });
    let sleeve: Sleeve | undefined;
    let socket: SleeveSocket | undefined;
    try {
      // The TAP takes any frame the bridge has, so one too large for the pod network reaches the
      // sending Worker, which answers "fragmentation needed" instead of the bridge dropping it.
      setMtu(tap.name, TAP_MTU);
      if (opts.bridge) setMaster(tap.name, opts.bridge);
      setLinkUp(tap.name);
      socket = openSleeveSocket(opts.port, segSize);
      sleeve = new Sleeve(opts, tap.fd, socket, segSize);
      await Promise.all(ROLES.map((role) => sleeve!.#spawn(role, false)));
      sleeve.#watch = setInterval(() => sleeve!.#watchdog(), WATCH_MS);
      return sleeve;
    } catch (e) {
      if (sleeve) await sleeve.stop();
      else {
        if (socket) closeFd(socket.fd);
        closeTap(tap);
      }
      throw e;
    }
  }

  /** Null when both Workers run; else why the userspace path is not ready. */
  health(): string | null {
    return sleeveHealth(ROLES.map((r) => this.#slots[r].life));
  }

  /** Worker restarts after a death, by role, since the path started. */
  restarts(): Record<WorkerRole, number> {
    return { tx: this.#slots.tx.life.restarts, rx: this.#slots.rx.life.restarts };
  }

  /**
   * Starts a Worker for `role`. The first time, resolves when it reports ready and rejects when
   * it dies before; a restart resolves at once (the supervisor follows it from then on).
   */
  #spawn(role: WorkerRole, restart: boolean): Promise<void> {
    const slot = this.#slots[role];
    const generation = this.#shared.nextGeneration(role);
    slot.generation = generation;
    if (restart) slot.life.restarted(Date.now());
    const url = this.opts.workerUrl?.(role) ?? new URL(`./${role}_worker.ts`, import.meta.url);
    const w = new Worker(url, { type: "module" });
    slot.worker = w;
    const ready = restart
      ? Promise.resolve()
      : new Promise<void>((resolve, reject) => slot.ready = { resolve, reject });
    // Events of a Worker already replaced are ignored.
    const current = () => slot.generation === generation && !this.#stopped;
    w.onmessage = (e: MessageEvent<SleeveReport>) => {
      if (current()) this.#onReport(role, e.data);
    };
    w.onerror = (e) => {
      e.preventDefault();
      if (current()) this.#died(role, e.message);
    };
    // A new channel between the Workers: one end for this one, the other for its partner.
    const channel = new MessageChannel();
    const other = this.#slots[role === "tx" ? "rx" : "tx"].worker;
    if (other) other.postMessage({ type: "port", port: channel.port2 }, [channel.port2]);
    else channel.port2.close();
    const o = this.opts;
    const init: SleeveWorkerInit = {
      type: "init",
      role,
      tapFd: this.tapFd,
      udpFd: this.socket.fd,
      segSize: this.segSize,
      gso: this.socket.gso,
      mtu: o.mtu,
      self: o.self,
      epoch: o.epoch,
      encrypted: o.encrypted,
      macTtlMs: o.macTtlMs ?? 600_000,
      probeMac: probeMac(o.self),
      stats: this.#stats,
      shared: this.#shared.buffer,
      generation,
      restart,
      port: channel.port1,
    };
    w.postMessage(init, [init.port]);
    if (this.#peersMsg) w.postMessage(this.#peersMsg);
    return ready;
  }

  #onReport(role: WorkerRole, m: SleeveReport): void {
    const slot = this.#slots[role];
    if (m.type === "probe-reply") this.opts.onProbeReply?.(m.from, m.seq);
    else if (m.type === "probe-request") this.opts.onProbeRequest?.(m.from);
    else if (m.type === "ready") {
      const restarted = slot.life.restarts > 0 && slot.life.state === "starting";
      slot.life.ready();
      slot.ready?.resolve();
      slot.ready = undefined;
      if (restarted) {
        this.#log.info("userspace path Worker back", { role, restarts: slot.life.restarts });
      }
    } else if (m.type === "error") this.#died(role, m.message);
    else if (m.type === "refused") {
      this.#log.warn("userspace path refused datagrams", {
        role,
        source: m.source,
        refused: m.reasons,
      });
    }
  }

  /** The Worker of `role` failed: fence it off, count, log, and start another (after a pause). */
  #died(role: WorkerRole, why: string): void {
    const slot = this.#slots[role];
    if (slot.life.state === "dead") return;
    this.#shared.nextGeneration(role); // an old Worker still looping stops at its next turn
    slot.generation = -1;
    slot.worker?.terminate();
    slot.worker = undefined;
    const first = slot.ready;
    slot.ready = undefined;
    if (first) {
      // It died before it ever ran: starting the path fails (no supervision yet).
      slot.life.died(why, Date.now());
      first.reject(new WeavetsError("system", `userspace path ${role} Worker: ${why}`));
      return;
    }
    const delay = slot.life.died(why, Date.now());
    this.#log.error("userspace path Worker died; restarting", {
      role,
      error: why,
      restarts: slot.life.restarts + 1,
      inMs: delay,
    });
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (this.#stopped) return;
      try {
        this.#spawn(role, true);
      } catch (e) {
        this.#died(role, `cannot start: ${e}`); // e.g. no memory for a thread: try again later
      }
    }, delay);
  }

  #watchdog(): void {
    const now = Date.now();
    for (const role of ROLES) {
      const slot = this.#slots[role];
      const why = slot.life.overdue(this.#shared.lastBeat(role), now);
      if (why) this.#died(role, why);
    }
  }

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
    this.#peersMsg = { type: "peers", peers: list, broadcast, keys };
    for (const role of ROLES) this.#slots[role].worker?.postMessage(this.#peersMsg);
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
    clearInterval(this.#watch);
    const workers = ROLES.flatMap((role) => {
      const slot = this.#slots[role];
      clearTimeout(slot.timer);
      return slot.worker ? [slot.worker] : [];
    });
    await Promise.all(workers.map((w) =>
      new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 2000);
        w.onmessage = (e: MessageEvent<SleeveReport>) => {
          if (e.data.type === "probe-reply") this.opts.onProbeReply?.(e.data.from, e.data.seq);
          else if (e.data.type === "stopped" || e.data.type === "error") {
            clearTimeout(t);
            resolve();
          }
        };
        w.postMessage({ type: "stop" } satisfies SleeveControl);
      })
    ));
    for (const w of workers) w.terminate();
    closeFd(this.socket.fd);
    closeTap({ fd: this.tapFd, name: this.opts.tapName });
  }
}
