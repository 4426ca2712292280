/**
 * This peer's established connections (weaveworks/mesh's local_peer.go): each handshaken
 * connection is admitted or refused by admission.ts, its proven signing key bound to its name
 * (net/mesh/keys.ts; a refused binding refuses the connection), then started; the router hears
 * of every connection that comes up or goes down.
 */
import type { Logger } from "../log.ts";
import { admit, type RefusalKind } from "./admission.ts";
import type { Message } from "./codec.ts";
import type { ControlConnection } from "./connection.ts";
import type { ConnectionMaker } from "./connection_maker.ts";
import type { PeerName } from "./gossip_channel.ts";
import type { PeerKeys } from "./keys.ts";
import type { Refusals } from "./refusals.ts";
import type { ConnectionRecord } from "./topology.ts";

export interface LocalPeerDeps {
  self: { name: PeerName; uid: string };
  /** 0: unlimited. */
  connLimit: number;
  keys: PeerKeys;
  maker: ConnectionMaker;
  refusals: Refusals;
  log: Logger;
  /** Epoch ms (the mesh's clock). */
  now(): number;
  stopped(): boolean;
  /** An admitted connection started. */
  onUp(c: ControlConnection): void;
  /** An admitted connection ended (not a duplicate that lost, nor one replaced). */
  onDown(c: ControlConnection, reason: string): void;
  onMessage(from: PeerName, m: Message, size: number): void;
  /** Something the maker decides on changed: run it again soon. */
  kick(): void;
}

export class LocalPeer {
  readonly #d: LocalPeerDeps;
  readonly #conns = new Map<PeerName, ControlConnection>();

  constructor(deps: LocalPeerDeps) {
    this.#d = deps;
  }

  get size(): number {
    return this.#conns.size;
  }

  get(peer: PeerName): ControlConnection | undefined {
    return this.#conns.get(peer);
  }

  has(peer: PeerName): boolean {
    return this.#conns.has(peer);
  }

  names(): PeerName[] {
    return [...this.#conns.keys()];
  }

  all(): ControlConnection[] {
    return [...this.#conns.values()];
  }

  /** Our own topology entry's connections. */
  records(): ConnectionRecord[] {
    return this.all().map((c) => ({
      name: c.remote.name,
      address: `${c.remoteAddr.hostname}:${c.remote.port}`,
      outbound: c.outbound,
      established: true,
    }));
  }

  /** A peer is known: we were told of its address, or its key is vouched for. */
  isKnown(c: ControlConnection): boolean {
    return this.#d.maker.isTargetHost(c.remoteAddr.hostname) || this.#d.keys.isKnown(c.remote.name);
  }

  /** A handshake succeeded: `target` is the address we dialled, null for an inbound one. */
  admit(c: ControlConnection, target: string | null): void {
    const { self, maker, log } = this.#d;
    const r = c.remote;
    const address = `${c.remoteAddr.hostname}:${r.port}`;
    if (this.#d.stopped()) return c.close("shutting down");
    const existing = this.#conns.get(r.name);
    const known = this.isKnown(c);
    const d = admit(
      self,
      { name: r.name, uid: r.uid, outbound: c.outbound, known },
      existing && { name: r.name, uid: existing.remote.uid, outbound: existing.outbound },
      {
        established: this.#conns.size,
        unknownEstablished: this.all().filter((x) => !this.isKnown(x)).length,
      },
      this.#d.connLimit,
    );
    const refuse = (kind: RefusalKind, reason: string, permanent: boolean) => {
      this.#d.refusals.record(kind, reason, c.remoteAddr.hostname, { peer: r.name, address });
      if (target) maker.dialFailed(target, reason, permanent, this.#d.now());
    };
    if (!d.accept) {
      c.close(d.reason, d.kind);
      if (d.forgetTarget) {
        if (r.uid !== self.uid) {
          log.error("a peer at this address uses our name: give each node a distinct --name", {
            address,
            name: self.name,
          });
        }
        if (target) {
          log.info("not dialling this address again", { address: target });
          maker.forget(target);
        }
      } else if (d.duplicate) {
        log.info("duplicate connection", { peer: r.name, reason: d.reason });
        maker.connected(target, r.name);
      } else refuse(d.kind, d.reason, false);
      return this.#d.kick();
    }
    const bound = this.#d.keys.bind(r.name, c.remoteKey, "handshake", this.#d.now());
    if (!bound.ok) {
      const reason = `the peer's signing key is refused: ${bound.reason}`;
      c.close(reason, "key-refused");
      refuse("key-refused", reason, true);
      return this.#d.kick();
    }
    if (existing && d.replace) {
      log.info("replacing a connection", { peer: r.name, reason: d.replace });
      this.#conns.delete(r.name);
      existing.close(d.replace);
    }
    this.#conns.set(r.name, c);
    maker.connected(target ?? address, r.name);
    log.info("connection established", {
      peer: r.name,
      nickname: r.nickname,
      address,
      direction: c.outbound ? "outbound" : "inbound",
      known,
      protocol: c.version,
    });
    c.start({
      onMessage: (m, size) => this.#d.onMessage(r.name, m, size),
      onClose: (reason, kind) => this.#closed(c, reason, kind),
      known: () => this.isKnown(c),
    });
    if (!c.closed) this.#d.onUp(c);
  }

  #closed(c: ControlConnection, reason: string, kind?: RefusalKind): void {
    const name = c.remote.name;
    if (kind) this.#d.refusals.record(kind, reason, c.remoteAddr.hostname, { peer: name });
    if (this.#conns.get(name) !== c) return; // a duplicate that lost, or replaced
    this.#conns.delete(name);
    this.#d.onDown(c, reason);
  }
}
