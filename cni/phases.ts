/**
 * Where a served pod event's time goes: each phase's milliseconds since the previous mark, for
 * the daemon's "pod event" log line (bench/cri_latency.ts reads them). The clock is an input, so
 * the arithmetic is tested without sleeps.
 */
import { cpuUsage } from "node:process";

export interface PhaseClock {
  /** Ends the current phase as `name` (a repeated name adds up). */
  mark(name: string): void;
  /** Milliseconds per phase, rounded to 0.1 ms, in the order first marked. */
  phases(): Record<string, number>;
}

export function phaseClock(now: () => number = () => performance.now()): PhaseClock {
  let last = now();
  const spent = new Map<string, number>();
  return {
    mark(name) {
      const t = now();
      spent.set(name, (spent.get(name) ?? 0) + (t - last));
      last = t;
    },
    phases: () => Object.fromEntries([...spent].map(([k, v]) => [k, Math.round(v * 10) / 10])),
  };
}

/**
 * Wall time and the process's CPU time (user + system) per phase. With one event at a time the
 * CPU phases are that event's; with many, each includes what ran meanwhile.
 */
export function bothClocks(): PhaseClock & { wall: PhaseClock; cpu: PhaseClock } {
  const wall = phaseClock();
  const cpu = phaseClock(() => {
    const u = cpuUsage();
    return (u.user + u.system) / 1000;
  });
  return {
    wall,
    cpu,
    mark(name) {
      wall.mark(name);
      cpu.mark(name);
    },
    phases: () => wall.phases(),
  };
}
