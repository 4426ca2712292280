/**
 * A minimal Prometheus registry: counters and gauges with labels, and gauges computed at scrape
 * time. Rendered in the text exposition format (version 0.0.4).
 */

export type Labels = Record<string, string>;
type Kind = "counter" | "gauge";

interface Family {
  name: string;
  help: string;
  kind: Kind;
  values: Map<string, { labels: Labels; value: number }>;
  collect?: () => Array<{ labels?: Labels; value: number }>;
}

function labelKey(labels: Labels): string {
  return Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join(",");
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function formatLabels(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return "";
  return `{${keys.map((k) => `${k}="${escapeLabel(labels[k])}"`).join(",")}}`;
}

export class Metric {
  constructor(private readonly family: Family) {}

  inc(labels: Labels = {}, by = 1): void {
    const key = labelKey(labels);
    const cur = this.family.values.get(key);
    if (cur) cur.value += by;
    else this.family.values.set(key, { labels, value: by });
  }

  set(value: number, labels: Labels = {}): void {
    this.family.values.set(labelKey(labels), { labels, value });
  }

  get(labels: Labels = {}): number {
    return this.family.values.get(labelKey(labels))?.value ?? 0;
  }
}

export class Registry {
  readonly #families = new Map<string, Family>();

  #family(name: string, help: string, kind: Kind): Family {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) throw new Error(`bad metric name ${name}`);
    const existing = this.#families.get(name);
    if (existing) {
      if (existing.kind !== kind) throw new Error(`metric ${name} registered as ${existing.kind}`);
      return existing;
    }
    const f: Family = { name, help, kind, values: new Map() };
    this.#families.set(name, f);
    return f;
  }

  counter(name: string, help: string): Metric {
    return new Metric(this.#family(name, help, "counter"));
  }

  gauge(name: string, help: string): Metric {
    return new Metric(this.#family(name, help, "gauge"));
  }

  /** A gauge whose samples are computed on every scrape (e.g. from live state). */
  gaugeFn(name: string, help: string, collect: () => Array<{ labels?: Labels; value: number }>) {
    this.#family(name, help, "gauge").collect = collect;
  }

  /** A counter whose samples are computed on every scrape (from a count kept elsewhere). */
  counterFn(name: string, help: string, collect: () => Array<{ labels?: Labels; value: number }>) {
    this.#family(name, help, "counter").collect = collect;
  }

  render(): string {
    const out: string[] = [];
    for (const f of this.#families.values()) {
      out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.kind}`);
      const samples = f.collect ? f.collect() : [...f.values.values()];
      for (const s of samples) out.push(`${f.name}${formatLabels(s.labels ?? {})} ${s.value}`);
    }
    return out.join("\n") + "\n";
  }
}
