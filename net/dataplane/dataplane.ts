/**
 * The data plane as a daemon component: sets up the node (bridge, forwarding, masquerading),
 * runs the fast path (VXLAN, FDB from gossip) and the userspace path (TAP + Workers), gossips
 * this peer's signed record (underlay address, pod MACs) on the mesh channel "macs", and keeps the
 * kernel reconciled with what peers announce. Every decision is made by pure code — which path
 * each peer takes and the FDB (plan.ts), the channel's records (fastpath/mac_channel.ts), what
 * status says (dataplane_status.ts) — and this file is the loop around it: snapshot the mesh →
 * planPaths → reconcile the kernel and the Sleeve.
 */
import type { GossipChannel, MeshView, PeerName } from "../mesh/gossip_channel.ts";
import { type ApiRoute, jsonResponse } from "../api/route.ts";
import type { Registry } from "../api/metrics.ts";
import type { StatusSection } from "../mesh/status_text.ts";
import { describeCause } from "../cause.ts";
import { LogLimiter } from "../mesh/log_limit.ts";
import { log as rootLog } from "../log.ts";
import { findLink, listAddresses, listLinks, listRoutes } from "../linux/mod.ts";
import { aeadBackend } from "./sleeve/aead.ts";
import { ensureBridge } from "./node/bridge.ts";
import { reconcileFdb, vxlanName } from "./fastpath/vxlan.ts";
import { RelearnGuard } from "./fastpath/relearn.ts";
import { FastPathDevice, startDevice } from "./fastpath/device.ts";
import { MAC_CHANNEL, MacChannel, refusalMessage } from "./fastpath/mac_channel.ts";
import { Masquerade } from "./node/masquerade.ts";
import { TrustedSubnets } from "../mesh/trust.ts";
import { bridgeLocalMacs, randomEpoch } from "./node/local_macs.ts";
import { fastPathUp, shouldProbeBack } from "./fastpath/probe.ts";
import { chooseMtu, type MtuChoice } from "./node/mtu.ts";
import { Sleeve } from "./sleeve/sleeve.ts";
import { pickUnderlay, type Underlay } from "./node/underlay.ts";
import { type Plan, planPaths, vxlanWanted } from "./plan.ts";
import {
  dataplaneMetrics,
  type DataplaneStatus,
  encryptionNote,
  peerPaths,
  statusFields,
  unencryptedPeers,
} from "./dataplane_status.ts";

import type { Dataplane, DataplaneOptions } from "./options.ts";
import { sleevePeers, type Snapshot, snapshot } from "./snapshot.ts";

export { MAC_CHANNEL } from "./fastpath/mac_channel.ts";
export type { Dataplane, DataplaneOptions } from "./options.ts";
export type { PathName } from "./plan.ts";
export type { DataplaneStatus, PeerPath } from "./dataplane_status.ts";

export function createDataplane(opts: DataplaneOptions = {}): Dataplane {
  const log = rootLog.with({ component: "dataplane" });
  const disputeLog = new LogLimiter(10_000);
  const bridge = opts.bridge ?? "weave";
  const encrypted = opts.encrypted === true;
  const subnets = new TrustedSubnets(opts.trustedSubnets ?? []);
  // With a password the fast path is offered only with trusted subnets, and then only mutually
  // trusted peers get it (plan.ts); its device exists only while one does (fastpath/device.ts).
  const fastdp = (opts.fastdp ?? true) && (!encrypted || !subnets.empty);
  const fastdpPort = opts.fastdpPort ?? 6784;
  const sleevePort = opts.sleevePort ?? 6783;
  const vxlan = vxlanName(fastdpPort);
  const tapName = opts.tapName ?? "vethwe-tap";
  const probeTimeoutMs = opts.probeTimeoutMs ?? 5000;
  const epoch = randomEpoch();
  let mesh: MeshView | undefined;
  let macs: MacChannel | undefined;
  let channel: GossipChannel | undefined;
  let sleeve: Sleeve | undefined;
  let underlay: Underlay | undefined;
  let mtu: MtuChoice | undefined;
  let plan: Plan | undefined;
  let device: FastPathDevice | undefined;
  let started = false;
  let startedAt = 0;
  /** When each peer last answered a fast-path probe. */
  const lastReply = new Map<PeerName, number>();
  /** When each peer was last probed back out of schedule (onProbeRequest). */
  const probedBack = new Map<PeerName, number>();
  /** Underlay addresses with FDB entries found at start (a restart): adopted as answered. */
  const adoptedAddrs = new Set<string>();
  /** With a password: those addresses, kept allowed through the adoption grace. */
  let adoptedAtStart: string[] = [];
  let probeSeq = 0;
  const timers: ReturnType<typeof setInterval>[] = [];
  let unsubscribe: (() => void) | undefined;
  const names = { bridge, vxlan, tap: tapName };
  const relearn = new RelearnGuard({ names, log, plan: () => plan });
  const masquerade = new Masquerade({ podCidr: opts.podCidr, localRanges: opts.localRanges, log });

  const localMacs = () => bridgeLocalMacs(bridge, [vxlan, tapName]);

  function publish(local: string[]): void {
    const msg = macs!.publish(
      { addr: underlay!.addr, sleevePort, fastdpPort, fastdp, macs: local },
      Date.now(),
    );
    channel?.broadcast(msg);
  }

  /** Merges a "macs" message; returns what was new (for the mesh to pass on), or null. */
  function receive(from: PeerName, data: Uint8Array): Uint8Array | null {
    const r = macs!.receive(from, data, Date.now());
    if (r.reassert) channel?.broadcast(r.reassert);
    for (const rec of r.fresh) {
      if (adoptedAddrs.delete(rec.addr) && !lastReply.has(rec.peer)) {
        lastReply.set(rec.peer, startedAt);
      }
    }
    if (!r.forward) return null;
    apply();
    opts.onPeerRecords?.();
    return r.forward;
  }

  /** Snapshot → plan → reconcile. */
  function apply(): void {
    if (!mesh || !macs || !started) return;
    masquerade.refresh().catch((e) =>
      log.error("cannot update masquerading", { error: describeCause(e) })
    );
    const now = Date.now();
    const records = macs.state.all();
    const snap = snapshot(mesh, records.map((r) => r.peer), encrypted);
    const next = planPaths({
      mesh: snap,
      records,
      fastdp,
      encrypted,
      trustedSubnets: subnets,
      lastReply,
      previous: plan,
      now,
      probeTimeoutMs,
      adoptUntil: startedAt + (opts.adoptGraceMs ?? 30_000),
    });
    for (const p of next.rearm) lastReply.set(p, now);
    const disputed = next.disputedMacs;
    if (disputed.length > 0 && disputed.length !== plan?.disputedMacs.length) {
      // A claimant can flip its claims with every record it signs: at most a line per 10 s.
      const r = disputeLog.allow("macs", now);
      if (r.log) {
        log.warn("peers claim MACs their owners still announce: refused", {
          count: disputed.length,
          first: disputed.slice(0, 8),
          suppressedSinceLast: r.suppressed,
        });
      }
    }
    plan = next;
    if (encrypted) {
      const grace = next.deletable !== null ? adoptedAtStart : [];
      const plain = records.filter((r) => next.plaintext.has(r.peer)).map((r) => r.addr);
      device?.allow([...plain, ...grace]);
      device?.want(vxlanWanted({ fastdp, encrypted, plan: next }) || grace.length > 0);
    }
    reconcile(next, snap);
  }

  function reconcile(p: Plan, snap: Snapshot): void {
    if (device?.up) {
      const diff = reconcileFdb(vxlan, p.fdb, (e) => p.deletable?.has(e.dst) ?? true);
      if (diff.add.length || diff.del.length) {
        log.info("fdb reconciled", { added: diff.add.length, removed: diff.del.length });
      }
    }
    const paths = new Map(peerPaths(p).map((x) => [x.peer, x]));
    for (const m of p.moved) {
      log.info("path changed", { peer: m.peer, path: m.to, reason: paths.get(m.peer)?.reason });
    }
    // Each plan, not only on a move: the peer may still send on the old path (relearn.ts).
    if (fastdp) relearn.check(p.moved.length > 0);
    const table = sleevePeers(macs!.state.all(), p, snap);
    const refused = sleeve?.setPeers(table, snap.children(snap.self), snap.sessions) ?? [];
    if (refused.length) log.error("the mesh offered a data key used before: refused", { refused });
  }

  function probeAll(): void {
    if (!device?.up || !sleeve || !plan) return; // no device: a probe would only flood
    probeSeq++;
    for (const peer of plan.probe) sleeve.sendProbe(peer, probeSeq);
    apply(); // notices pairs whose replies stopped
  }

  function onProbeReply(from: string): void {
    const peer = plan?.probeOwners.get(from);
    if (!peer) return;
    const wasUp = fastPathUp(lastReply.get(peer), Date.now(), probeTimeoutMs);
    lastReply.set(peer, Date.now());
    if (!wasUp) apply();
  }

  /**
   * A peer's probe request proves its VXLAN reaches us: it is about to move our pair to the fast
   * path (on our reply) while we would wait for our own next probe, up to a second later. In that
   * window each end sends on a different path and frames are lost (a new pod's first ARP answered
   * into a VXLAN FDB with no entry for the peer: its first packet then waits 1 s for the ARP
   * retry). So a pair not up here probes back at once, and both ends move within a round trip.
   */
  function onProbeRequest(from: string): void {
    const peer = plan?.probeOwners.get(from);
    if (!peer || !sleeve) return;
    const now = Date.now();
    if (!shouldProbeBack(lastReply.get(peer), probedBack.get(peer), now, probeTimeoutMs)) return;
    probedBack.set(peer, now);
    sleeve.sendProbe(peer, probeSeq);
  }

  /**
   * A VXLAN device of ours while encrypted and nobody is trusted (no --trusted-subnets): a
   * plaintext path no decision of ours wants (status and readiness say so).
   */
  const unencrypted = () => unencryptedPeers(encrypted, plan);
  const plaintextDevice = () =>
    encrypted && subnets.empty && findLink(vxlan)?.kind === "vxlan" ? vxlan : undefined;

  function report(): DataplaneStatus {
    return {
      ready: started,
      underlay,
      mtu,
      fastdp,
      encrypted,
      plaintextPath: findLink(vxlan)?.kind === "vxlan",
      unencryptedPeers: unencrypted(),
      localMacs: macs?.mine?.macs ?? [],
      peers: peerPaths(plan),
      sleeve: sleeve?.stats(),
      sleeveHealth: sleeve?.health(),
      sleeveRestarts: sleeve?.restarts(),
      sleeveOffloads: sleeve ? { gso: sleeve.socket.gso, gro: sleeve.socket.gro } : undefined,
    };
  }

  function pollLocal(): void {
    const local = localMacs();
    const mine = macs?.mine;
    if (!mine || local.join() !== mine.macs.join()) publish(local);
  }

  /** The fast path's kernel state: set up and adopted; with a password or off: removed. */
  async function setUpFastPath(u: Underlay, m: MtuChoice): Promise<string[]> {
    device = new FastPathDevice({
      setup: {
        name: vxlan,
        port: fastdpPort,
        vni: opts.vni ?? 1,
        bridge,
        mtu: m.mtu,
        local: u.addr,
      },
      tapName,
      log,
      onChanged: () => apply(),
      guarded: encrypted,
    });
    // Encrypted: kept only for trusted peers, else created when one appears (apply → want).
    const trusted = (dst: string) => subnets.contains(dst);
    const { changed, adopted } = await startDevice(device, { fastdp, encrypted, trusted });
    for (const a of adopted) adoptedAddrs.add(a);
    adoptedAtStart = adopted;
    if (device.up) log.info("fast path adopted", { device: vxlan, fdbEntries: adopted.length });
    else if (changed.length) log.warn("fast path device removed", { device: vxlan, encrypted });
    return changed;
  }

  return {
    async start(m: MeshView): Promise<void> {
      mesh = m;
      macs = new MacChannel({
        self: m.self,
        sign: (d, p) => m.sign(d, p),
        verify: (a, d, p, s) => m.verify(a, d, p, s),
        onRefusal: (reason, detail) => log.warn(refusalMessage(reason), { reason, ...detail }),
      });
      underlay = pickUnderlay(listLinks(), listAddresses(), listRoutes(), opts.underlayAddr, [
        bridge,
        vxlan,
        tapName,
      ]);
      mtu = chooseMtu({ underlayMtu: underlay.mtu, fastdp, encrypted, override: opts.mtu });
      const changed = ensureBridge({ name: bridge, mtu: mtu.mtu, cidr: opts.bridgeCidr });
      changed.push(...await setUpFastPath(underlay, mtu));
      await masquerade.refresh();
      sleeve = await Sleeve.start({
        tapName,
        bridge,
        port: sleevePort,
        underlayMtu: underlay.mtu,
        mtu: mtu.mtu,
        self: m.self,
        epoch,
        encrypted,
        keyGraceMs: opts.keyGraceMs,
        macTtlMs: opts.macTtlMs,
        workerUrl: opts.sleeveWorkerUrl,
        onProbeReply,
        onProbeRequest,
      });
      // The adoption grace (and adopted peers' probe clock) starts now, when records can first
      // arrive: start-up itself took 2-5 s at load 35 (the Workers), and a 2 s grace counted
      // from the call was over before any gossip, so a restart removed every adopted entry.
      startedAt = Date.now();
      const ch = macs;
      channel = m.channel(MAC_CHANNEL, {
        fullState: () => ch.fullState(),
        onGossip: (from, data) => receive(from, data),
        onUnicast: () => {},
      });
      unsubscribe = m.onChange(() => apply());
      started = true;
      publish(localMacs());
      apply();
      timers.push(setInterval(pollLocal, opts.pollMs ?? 1000));
      timers.push(setInterval(apply, opts.reconcileMs ?? 5000));
      if (fastdp) timers.push(setInterval(probeAll, opts.probeMs ?? 1000));
      log.info("data plane ready", {
        bridge,
        mtu: mtu.mtu,
        mtuReason: mtu.reason,
        fastdp,
        encrypted,
        underlay: underlay.addr,
        changed,
      });
    },

    async stop(): Promise<void> {
      for (const t of timers.splice(0)) clearInterval(t);
      relearn.stop();
      unsubscribe?.();
      started = false;
      await sleeve?.stop();
      sleeve = undefined;
      // The bridge, VXLAN device and FDB stay: pods keep talking on the fast path while the
      // daemon is down or restarting.
    },

    name: "dataplane",

    ready(): string | null {
      if (!started) return "data plane not set up yet";
      const plain = plaintextDevice();
      if (plain) {
        return `encrypted, but the plaintext VXLAN device ${plain} is present: restart the daemon ` +
          `(it removes it at start) or run "ip link del ${plain}"`;
      }
      return sleeve?.health() ?? null;
    },

    routes(): ApiRoute[] {
      return [{
        method: "GET",
        path: "/status/dataplane",
        handle: () => jsonResponse(report()),
      }];
    },

    metrics(registry: Registry): void {
      dataplaneMetrics(registry, () => ({
        paths: peerPaths(plan),
        refused: macs?.refused ?? { invalid: 0, "unknown-author": 0, jump: 0 },
        disputed: plan?.disputedMacs ?? [],
        sleeve,
      }));
    },

    status(): StatusSection {
      return {
        service: "dataplane",
        fields: statusFields({
          bridge,
          mtu,
          underlay,
          fastdp: device?.up === true,
          vxlan,
          fastdpPort,
          sleevePort,
          encryption: encryptionNote(encrypted, plaintextDevice(), aeadBackend(), unencrypted()),
          sleeve,
          paths: peerPaths(plan),
          localMacs: macs?.mine?.macs.length ?? 0,
        }),
      };
    },

    report,

    dataPath: (peer: PeerName) => plan?.paths.find((p) => p.peer === peer)?.path,
    dataPathReason: (peer: PeerName) => peerPaths(plan).find((p) => p.peer === peer)?.reason,
    peerRecords: () => macs?.state.all() ?? [],
  };
}
