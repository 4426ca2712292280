/**
 * Judges bench/cri_latency.ts runs together: each FILE holds the `--samples` lines of one build's
 * runs (e.g. before and after a change, alternated on a shared machine). Per build: every round of
 * every run gives one weavets/reference ratio per statistic; the table gives their median and a
 * distribution-free interval of it (bench/stats.ts), the verdict per goal on that interval (met
 * when all of it is under the goal, not met when all of it is over), and the median of what
 * weavets adds per round in ms.
 *
 *   deno run -A bench/cri_combine.ts before.jsonl after.jsonl
 */
import { percentile, REF, type Samples, verdict, WEAVETS } from "./cri_stats.ts";
import { medianInterval } from "./stats.ts";

export interface Run {
  bin: string;
  load: number[];
  samples: Record<string, Samples>;
}

export interface Judged {
  rounds: number;
  loads: { lo: number; hi: number };
  rows: Array<{
    what: string;
    goal?: number;
    median: number;
    lo: number;
    hi: number;
    coverage: number;
    addedMs: number;
    verdict?: string;
  }>;
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => {
  const s = sorted(xs);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** The per-round ratios of one build's runs, judged (pure). */
export function judge(runs: Run[]): Judged {
  const stats: Array<[string, "c1" | "c20", number, number | undefined]> = [
    ["p50 at concurrency 1", "c1", 50, 1.2],
    ["p50 at concurrency 20", "c20", 50, 1.2],
    ["p99 at concurrency 1", "c1", 99, undefined],
    ["p99 at concurrency 20", "c20", 99, 1.3],
  ];
  const rows = stats.map(([what, c, p, goal]) => {
    const ratios: number[] = [];
    const added: number[] = [];
    for (const run of runs) {
      const w = run.samples[WEAVETS][c], r = run.samples[REF][c];
      w.forEach((round, i) => {
        const [a, b] = [percentile(sorted(round), p), percentile(sorted(r[i]), p)];
        ratios.push(a / b);
        added.push(a - b);
      });
    }
    const iv = medianInterval(ratios);
    return {
      what,
      goal,
      median: median(ratios),
      ...iv,
      addedMs: median(added),
      ...(goal !== undefined ? { verdict: verdict(iv, goal) } : {}),
    };
  });
  const loads = runs.map((r) => r.load[0]);
  return {
    rounds: rows.length ? runs.reduce((n, r) => n + r.samples[WEAVETS].c1.length, 0) : 0,
    loads: { lo: Math.min(...loads), hi: Math.max(...loads) },
    rows,
  };
}

function table(name: string, j: Judged): string {
  const f = (x: number) => x.toFixed(2);
  return [
    `${name}: ${j.rounds} rounds, load ${j.loads.lo.toFixed(0)}–${j.loads.hi.toFixed(0)}`,
    "",
    "| statistic | median ratio | interval (coverage) | weavets adds (median ms) | verdict |",
    "| --------- | ------------ | ------------------- | ------------------------ | ------- |",
    ...j.rows.map((r) =>
      `| ${r.what} | ${f(r.median)} | ${f(r.lo)}–${f(r.hi)} (${
        (r.coverage * 100).toFixed(0)
      }%) | ` +
      `${r.addedMs.toFixed(0)} | ${r.verdict ? `${r.verdict} (goal ${r.goal}×)` : "—"} |`
    ),
  ].join("\n");
}

if (import.meta.main) {
  for (const file of Deno.args) {
    const runs = Deno.readTextFileSync(file).split("\n").filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as Run);
    console.log(table(`${file} (${runs[0]?.bin ?? "no runs"})`, judge(runs)) + "\n");
  }
}
