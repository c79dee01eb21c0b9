import type { PackageKey, Plan } from './plan.js';

/** Chains of requirements from a root of the plan to `target`: the answer to "why is this here?". Pure. */
export function whyChains(plan: Plan, target: string, limit = 10): PackageKey[][] {
  const matches = (key: PackageKey) => key === target || key.split(':')[0] === target;
  const chains: PackageKey[][] = [];
  const walk = (key: PackageKey, path: PackageKey[]): void => {
    if (chains.length >= limit || path.includes(key)) return;
    const next = [...path, key];
    if (matches(key)) {
      chains.push(next);
      return;
    }
    const node = plan.nodes.get(key);
    for (const d of [...(node?.runDeps ?? []), ...(node?.buildDeps ?? [])]) walk(d, next);
  };
  for (const root of [...plan.roots].sort()) walk(root, []);
  return chains;
}

/** Whether each step of a chain is a run or a build dependency, for rendering. */
export function edgeKind(plan: Plan, from: PackageKey, to: PackageKey): 'run' | 'build' {
  return plan.nodes.get(from)?.runDeps.includes(to) === true ? 'run' : 'build';
}
