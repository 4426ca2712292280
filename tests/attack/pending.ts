/**
 * Attacks that still succeed against main are pending: they run only with
 * WEAVETS_ATTACK_PENDING=1 (how the engineers fixing them reproduce the attack), so main stays
 * green while the reproducers are in the repo. An attack leaves this list when its protection
 * lands and the step passes; then it runs in CI like any test.
 */
export const PENDING = new Set<string>([]);

const runPending = Deno.env.get("WEAVETS_ATTACK_PENDING") === "1";
/** WEAVETS_ATTACK_ONLY=id,id: run only these steps (to work on one attack without the rest). */
const only = Deno.env.get("WEAVETS_ATTACK_ONLY")?.split(",").filter((x) => x);

/** A step of an attack suite: ignored while pending (unless asked for). */
export function attackStep(
  t: Deno.TestContext,
  id: string,
  name: string,
  fn: () => Promise<void>,
): Promise<boolean> {
  const pending = PENDING.has(id) && !runPending;
  const skipped = only !== undefined && !only.includes(id);
  return t.step({
    name: `[${id}] ${name}${pending ? " (pending)" : ""}`,
    ignore: pending || skipped,
    fn,
  });
}

/** True when every step of a suite is pending: it then builds no cluster at all. */
export function allPending(ids: string[]): boolean {
  return ids.every((id) => (PENDING.has(id) && !runPending) || (only && !only.includes(id)));
}
