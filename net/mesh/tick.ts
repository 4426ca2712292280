/**
 * The router's one timer, decided: at `now`, whether anti-entropy and the forgetting of
 * unreachable peers are due (periodic.ts), which targets to dial within the connection limit's
 * room (connection_maker.ts), and when to wake next: the earliest of them all. Pure over the
 * ConnectionMaker (a state machine without I/O); router.ts runs the answer and sets its timer.
 */
import type { ConnectionMaker } from "./connection_maker.ts";
import { type Periodic, periodicDue, type PeriodicTiming } from "./periodic.ts";

export interface TickInput {
  now: number;
  periodic: Periodic;
  timing: PeriodicTiming;
  /** Returns [0, 1): anti-entropy's jitter. */
  random: () => number;
  /** Established plus outbound pending connections at most; 0 is unlimited (Weave's meaning). */
  connLimit: number;
  established: number;
  /** Outbound connections in their dial or handshake: they take room too. */
  outboundPending: number;
}

export interface Tick {
  antiEntropy: boolean;
  forget: boolean;
  /** The schedule after this tick. */
  periodic: Periodic;
  dial: string[];
  /** When to run the next tick (events in between run one sooner). */
  wakeAt: number;
}

export function planTick(maker: ConnectionMaker, i: TickInput): Tick {
  const p = periodicDue(i.periodic, i.now, i.timing, i.random);
  const room = i.connLimit === 0 ? Infinity : i.connLimit - i.established - i.outboundPending;
  const due = maker.due(i.now, Math.max(0, room));
  return {
    antiEntropy: p.antiEntropy,
    forget: p.forget,
    periodic: p.next,
    dial: due.dial,
    wakeAt: Math.min(p.wakeAt, due.wakeAt ?? Infinity),
  };
}
