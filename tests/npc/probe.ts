/**
 * Connectivity probes between pod namespaces, from the test process itself: TCP and UDP servers
 * on given ports in every pod (TCP accepts and closes; UDP echoes), and probes that open a new
 * connection from one pod to another. Each UDP probe binds the next port of a counter: a port the
 * kernel picks at random can repeat one a probe used to the same destination seconds ago, whose
 * conntrack entry (alive for 30–120 s) would then pass a reply-direction verdict for a flow the
 * current rules deny. TCP needs none: a SYN on a closed entry starts a new one. Sockets are made inside the namespaces synchronously (net/linux's rule) and driven by
 * one polling loop, so hundreds of probes run at once without a process each.
 */
import {
  AF_INET,
  errno,
  libc,
  MSG_DONTWAIT,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOL_SOCKET,
} from "../../net/linux/libc.ts";
import { inNetns } from "../../net/linux/mod.ts";
import { recvFrom, sendTo, sockaddrIn, udpSocket } from "../../net/linux/udp.ts";

export type Proto = "TCP" | "UDP";

const SOCK_STREAM = 1;
const SO_ERROR = 4;
const POLLOUT = 4;
const EINPROGRESS = 115;
const TICK_MS = 5;
/** UDP probe source ports: 40,000 probes from one pod before a port repeats. */
const FIRST_PORT = 20000;
const PORTS = 40000;

interface Pending {
  fd: number;
  proto: Proto;
  deadline: number;
  resolve(ok: boolean): void;
  /** UDP: the datagram and where it goes (resent halfway, for a first packet that waited). */
  datagram?: { to: Uint8Array<ArrayBuffer>; resendAt: number };
}

export class Prober {
  readonly #listeners: Deno.Listener[] = [];
  readonly #udpServers: number[] = [];
  readonly #pending = new Set<Pending>();
  readonly #buf = new Uint8Array(2048);
  readonly #from = new Uint8Array(16);
  #udpPorts = 0;
  #timer = setInterval(() => this.#tick(), TICK_MS);

  /** TCP and UDP servers on `ports` in a pod's namespace. */
  serve(netns: string, ports: number[]): void {
    inNetns(netns, () => {
      for (const port of ports) {
        const l = Deno.listen({ hostname: "0.0.0.0", port });
        this.#listeners.push(l);
        this.#acceptLoop(l);
        this.#udpServers.push(udpSocket({ port, nonBlocking: true }));
      }
    });
  }

  async #acceptLoop(l: Deno.Listener): Promise<void> {
    try {
      for await (const c of l) c.close();
    } catch {
      // closed
    }
  }

  /** Whether a new connection from `netns` to ip:port gets through within `timeoutMs`. */
  probe(netns: string, ip: string, proto: Proto, port: number, timeoutMs: number) {
    return new Promise<boolean>((resolve) => {
      const to = sockaddrIn(ip, port);
      const deadline = performance.now() + timeoutMs;
      if (proto === "UDP") {
        const port = FIRST_PORT + (this.#udpPorts++ % PORTS);
        const fd = inNetns(netns, () => udpSocket({ port, nonBlocking: true }));
        sendTo(fd, this.#buf, 8, to);
        this.#pending.add({
          fd,
          proto,
          deadline,
          resolve,
          datagram: { to, resendAt: performance.now() + timeoutMs / 2 },
        });
        return;
      }
      const fd = inNetns(
        netns,
        () => libc.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0),
      );
      if (fd < 0) throw new Error(`socket: errno ${errno()}`);
      const rc = libc.connect(fd, to, to.length);
      if (rc !== 0 && errno() !== EINPROGRESS) {
        libc.close(fd);
        resolve(false);
        return;
      }
      this.#pending.add({ fd, proto, deadline, resolve });
    });
  }

  #tick(): void {
    // Echo what the UDP servers received.
    for (const fd of this.#udpServers) {
      for (;;) {
        let n: number;
        try {
          n = recvFrom(fd, this.#buf, this.#from, MSG_DONTWAIT);
        } catch {
          break;
        }
        try {
          sendTo(fd, this.#buf, n, this.#from, MSG_DONTWAIT);
        } catch {
          // the reply is lost: the probe times out
        }
      }
    }
    const now = performance.now();
    for (const p of this.#pending) {
      let done: boolean | undefined;
      if (p.proto === "TCP") {
        const pfd = new Uint8Array(8); // struct pollfd {int fd; short events; short revents}
        const v = new DataView(pfd.buffer);
        v.setInt32(0, p.fd, true);
        v.setInt16(4, POLLOUT, true);
        if (Number(libc.poll(pfd, 1n, 0)) > 0) {
          const err = new Uint8Array(4);
          const len = new Uint8Array(4);
          new DataView(len.buffer).setUint32(0, 4, true);
          libc.getsockopt(p.fd, SOL_SOCKET, SO_ERROR, err, len);
          done = new DataView(err.buffer).getInt32(0, true) === 0;
        }
      } else {
        try {
          recvFrom(p.fd, this.#buf, undefined, MSG_DONTWAIT);
          done = true;
        } catch {
          if (p.datagram && now >= p.datagram.resendAt) {
            sendTo(p.fd, this.#buf, 8, p.datagram.to, MSG_DONTWAIT);
            p.datagram = undefined;
          }
        }
      }
      if (done === undefined && now >= p.deadline) done = false;
      if (done !== undefined) {
        this.#pending.delete(p);
        libc.close(p.fd);
        p.resolve(done);
      }
    }
  }

  close(): void {
    clearInterval(this.#timer);
    for (const l of this.#listeners) l.close();
    for (const fd of this.#udpServers) libc.close(fd);
    for (const p of this.#pending) {
      libc.close(p.fd);
      p.resolve(false);
    }
    this.#pending.clear();
  }
}
