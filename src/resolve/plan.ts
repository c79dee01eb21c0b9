import type { OptionSet, Recipe } from '../recipe/index.js';

/** `name:slot`: the unit of "one version at a time". Different slots of one name coexist. */
export type PackageKey = string;

export function packageKey(name: string, slot: string): PackageKey {
  return `${name}:${slot}`;
}

/** One package instance chosen by resolution: a recipe with its options and chosen dependencies. */
export interface PlanNode {
  readonly key: PackageKey;
  readonly recipe: Recipe;
  readonly options: OptionSet;
  /** Keys of the packages that satisfy the recipe's run dependencies (needed at run time too). */
  readonly runDeps: readonly PackageKey[];
  /** Keys of the packages needed only while building. */
  readonly buildDeps: readonly PackageKey[];
}

/** The result of resolution: every node needed, and which of them the user asked for. */
export interface Plan {
  readonly nodes: ReadonlyMap<PackageKey, PlanNode>;
  readonly roots: readonly PackageKey[];
}

/** Keys in an order where every node comes after all its (build and run) dependencies. */
export function topoOrder(plan: Plan): PackageKey[] {
  const out: PackageKey[] = [];
  const seen = new Set<PackageKey>();
  const visit = (key: PackageKey) => {
    if (seen.has(key)) return;
    seen.add(key);
    const node = plan.nodes.get(key);
    if (node === undefined) return;
    for (const d of [...node.buildDeps, ...node.runDeps]) visit(d);
    out.push(key);
  };
  for (const key of [...plan.nodes.keys()].sort()) visit(key);
  return out;
}

/** The run-time closure of some nodes: themselves and their run dependencies, transitively. */
export function runClosure(plan: Plan, keys: readonly PackageKey[]): PackageKey[] {
  const seen = new Set<PackageKey>();
  const stack = [...keys];
  for (let key = stack.pop(); key !== undefined; key = stack.pop()) {
    if (seen.has(key)) continue;
    seen.add(key);
    stack.push(...(plan.nodes.get(key)?.runDeps ?? []));
  }
  return [...seen].sort();
}
