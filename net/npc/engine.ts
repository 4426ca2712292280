/**
 * The policy engine of one node, pure (no I/O, no clock): the cluster model and the incremental
 * compiler. Changes go into the model; `commit` compiles what changed and returns what to apply
 * (all of it after a reset, else the difference from the last commit). `check` answers
 * "would this connection pass, and which policies decide it" from the same compiled state and
 * the same evaluation the kernel rules perform.
 */
import { classesOfAddress } from "./classes.ts";
import { ClusterModel } from "./cluster.ts";
import { Compiler, type DirectionRules, type Entry, type PolicyState } from "./compile.ts";
import type { ElementDiff, Elements } from "./elements.ts";
import type { Direction, IpRange, Protocol } from "./types.ts";
import { type Connection, Evaluator, type Outcome } from "./verdict.ts";

export interface EngineOptions {
  node: string;
  supported: (p: Protocol) => boolean;
}

export interface Commit {
  state: PolicyState;
  elements: Elements;
  /** Against the last commit, or null for the first one (load everything). */
  diff: ElementDiff | null;
}

export interface DirectionAnswer {
  outcome: Outcome;
  /** The node that enforces this direction (the policed pod's node). */
  node: string;
  /** The policies selecting the policed pod in this direction. */
  policies: string[];
  /** The rules that allow the connection ("namespace/policy" and the rule's index). */
  allowedBy: Array<{ policy: string; rule: number }>;
  pending: boolean;
}

export interface CheckAnswer {
  allowed: boolean;
  /** An address of its node's ranges no pod holds: closed either way. */
  unbound: boolean;
  egress: DirectionAnswer;
  ingress: DirectionAnswer;
}

export class PolicyEngine {
  readonly model = new ClusterModel();
  #compiler: Compiler;
  #localRanges: IpRange[] = [];
  /** Whether the kernel holds what the last commit returned. */
  #inKernel = false;
  #last?: View & { elements: Elements };

  constructor(readonly opts: EngineOptions) {
    this.#compiler = new Compiler(opts);
  }

  setLocalRanges(r: IpRange[]): boolean {
    const same = r.length === this.#localRanges.length &&
      r.every((x, i) => x.lo === this.#localRanges[i].lo && x.hi === this.#localRanges[i].hi);
    this.#localRanges = r;
    return !same;
  }

  /**
   * Compiles what changed in the model since the last commit. The caller applies `diff` (or,
   * when it is null, all of `elements`) and calls reset() if that failed.
   */
  commit(): Commit {
    let r;
    try {
      r = this.#compiler.commit(this.model, this.model.takeChanges(), this.#localRanges);
    } catch (e) {
      this.reset(); // a half-done commit: start again from the model
      throw e;
    }
    const diff = this.#inKernel ? r.diff : null;
    this.#inKernel = true;
    this.#last = {
      state: r.state,
      elements: r.elements,
      evaluator: new Evaluator(r.elements),
      compiler: this.#compiler,
    };
    return { state: r.state, elements: r.elements, diff };
  }

  /**
   * The kernel does not hold the last commit (an apply failed): the next commit loads
   * everything, compiled afresh.
   */
  reset(): void {
    this.#compiler = new Compiler(this.opts);
    this.#inKernel = false;
  }

  get state(): PolicyState | undefined {
    return this.#last?.state;
  }

  /**
   * The verdict for a new connection. Each direction is answered from the compiled state of the
   * node that enforces it: this node's loaded state for its own pods, otherwise the same compile
   * for the other node's pods.
   */
  check(c: Connection): CheckAnswer {
    const srcPod = this.model.podAt(c.src);
    const dstPod = this.model.podAt(c.dst);
    const egress = this.#direction("egress", c, srcPod?.nodeName);
    const ingress = this.#direction("ingress", c, dstPod?.nodeName);
    const unbound = this.#view(this.opts.node).evaluator.evaluate(c).unbound;
    return {
      allowed: !unbound && egress.outcome !== "deny" && ingress.outcome !== "deny",
      unbound,
      egress,
      ingress,
    };
  }

  #direction(dir: Direction, c: Connection, podNode: string | undefined): DirectionAnswer {
    const policed = dir === "egress" ? c.src : c.dst;
    const peer = dir === "egress" ? c.dst : c.src;
    const key = this.model.podKeyAt(policed);
    const bound = key !== undefined && [...this.model.bindings().values()]
      .some((b) => `${b.namespace}/${b.name}` === key);
    const node = bound ? this.opts.node : podNode ?? "";
    const none = { outcome: "pass" as Outcome, node, policies: [], allowedBy: [], pending: false };
    if (key === undefined || node === "") return none;
    const view = this.#view(node);
    const pod = view.compiler.explain(this.model, key);
    const rules = pod?.ips.includes(policed) ? pod[dir] : null;
    if (!rules) return none;
    const v = view.evaluator.evaluate(c);
    return {
      outcome: v[dir],
      node,
      policies: rules.policies,
      allowedBy: matchingEntries(view.state, rules, peer, c),
      pending: rules.pending,
    };
  }

  #view(node: string): View {
    if (node === this.opts.node && this.#last) return this.#last;
    const compiler = new Compiler({ node, supported: this.opts.supported });
    const none = {
      pods: new Set<string>(),
      namespaces: new Set<string>(),
      policies: new Set<string>(),
    };
    const r = compiler.commit(this.model, none, []);
    return { state: r.state, evaluator: new Evaluator(r.elements), compiler };
  }
}

/** A node's compiled state, its evaluator, and its compiler (for the entries behind it). */
interface View {
  state: PolicyState;
  evaluator: Evaluator;
  compiler: Compiler;
}

/** The entries of a pod's rules that admit `peer` with this protocol and port. */
function matchingEntries(
  state: PolicyState,
  rules: DirectionRules,
  peer: number,
  c: Connection,
): Array<{ policy: string; rule: number }> {
  if (rules.openBy.length > 0) return rules.openBy;
  const cls = classesOfAddress(state.peers, peer);
  const hit = (e: Entry) =>
    (e.peer === "all" || e.peer === cls.pod || e.peer === cls.block) &&
    (!e.range || (c.protocol === e.range.protocol && c.port >= e.range.lo && c.port <= e.range.hi));
  const seen = new Set<string>();
  return rules.entries.filter(hit).map((e) => ({ policy: e.policy, rule: e.rule }))
    .filter((r) => {
      const k = `${r.policy}#${r.rule}`;
      return !seen.has(k) && seen.add(k);
    });
}
