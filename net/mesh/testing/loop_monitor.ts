/**
 * TEST DOUBLE: how long the event loop was held. A zero timeout re-arms itself; the gap between
 * two of its runs is the work that ran in between (one task or several), measured in wall time
 * and in CPU time. On a machine shared with other work the wall gap includes waiting for a core,
 * the CPU gap does not: tests bound the CPU gap, and report both. The CPU time is this thread's
 * (Linux: /proc/thread-self/schedstat, in ns, current to a scheduler tick), so the garbage
 * collector's and the runtime's background threads, which do not hold the loop, are not counted;
 * elsewhere the whole process's.
 */
import { cpuUsage } from "node:process";

/** CPU time of the calling thread, ms; the process's where the kernel does not say. */
export function threadCpuMs(): number {
  try {
    return Number(Deno.readTextFileSync("/proc/thread-self/schedstat").split(" ")[0]) / 1e6;
  } catch {
    const c = cpuUsage();
    return (c.user + c.system) / 1000;
  }
}

export interface LoopReport {
  /** The longest gap between two ticks, ms. */
  worstWallMs: number;
  /** The most CPU time this process spent between two ticks, ms. */
  worstCpuMs: number;
  ticks: number;
}

export function monitorLoop(): { stop(): LoopReport } {
  let running = true;
  let lastWall = performance.now();
  let lastCpu = threadCpuMs();
  const r: LoopReport = { worstWallMs: 0, worstCpuMs: 0, ticks: 0 };
  let timer: ReturnType<typeof setTimeout>;
  const tick = () => {
    const wall = performance.now();
    const cpu = threadCpuMs();
    r.worstWallMs = Math.max(r.worstWallMs, wall - lastWall);
    r.worstCpuMs = Math.max(r.worstCpuMs, cpu - lastCpu);
    r.ticks++;
    lastWall = performance.now();
    lastCpu = threadCpuMs();
    if (running) timer = setTimeout(tick, 0);
  };
  timer = setTimeout(tick, 0);
  return {
    stop() {
      running = false;
      clearTimeout(timer);
      return r;
    },
  };
}
