import { AppError } from '../core/index.js';
import {
  conditionHolds,
  defaultOptions,
  formatDepSpec,
  matchesRequirement,
  type DepSpec,
  type OptionSet,
  type PackageRequirement,
  type Recipe,
  type RecipeIndex,
} from '../recipe/index.js';
import { formatRange } from '../version/index.js';
import { packageKey, type PackageKey, type Plan, type PlanNode } from './plan.js';

export interface ResolveRequest {
  readonly specs: readonly DepSpec[];
  /** Per package name, options to force on or off. */
  readonly options?: Readonly<Record<string, OptionSet>>;
  /** Preferred versions (e.g. what the profile has now): kept when they still satisfy. */
  readonly prefer?: ReadonlyMap<PackageKey, string>;
}

interface Demand {
  readonly req: PackageRequirement;
  readonly from: string;
}

/**
 * Picks one recipe per name:slot: the newest that satisfies every demand on it, iterating to a fixpoint.
 * Simple and predictable; the complete solver arrives with the resolver issue.
 */
export function resolve(index: RecipeIndex, request: ResolveRequest): Plan {
  const chosen = new Map<PackageKey, Recipe>();
  const demands = new Map<string, Demand[]>();
  for (let round = 0; round < 50; round++) {
    demands.clear();
    const roots = request.specs.map((s) => pick(index, s, 'the request', chosen, demands, request));
    const changed = expand(index, request, chosen, demands, roots);
    if (!changed) return toPlan(request, chosen, roots);
  }
  throw new AppError('E_RESOLVE_CONFLICT', 'resolution did not settle after 50 rounds', {
    hint: 'the requirements contradict each other in a loop; pin versions explicitly',
  });
}

function expand(
  index: RecipeIndex,
  request: ResolveRequest,
  chosen: Map<PackageKey, Recipe>,
  demands: Map<string, Demand[]>,
  roots: readonly PackageKey[],
): boolean {
  const before = new Map(chosen);
  const queue = roots.map((k) => chosen.get(k)).filter((r) => r !== undefined);
  const visited = new Set<Recipe>();
  for (let r = queue.shift(); r !== undefined; r = queue.shift()) {
    if (visited.has(r)) continue;
    visited.add(r);
    const options = optionsFor(r, request);
    for (const spec of [...r.depends.build, ...r.depends.run]) {
      if (!conditionHolds(spec.condition, options)) continue;
      const key = pick(index, spec, `${r.name} ${r.version}`, chosen, demands, request);
      const dep = chosen.get(key);
      if (dep !== undefined) queue.push(dep);
    }
  }
  // Drop picks nothing demands any more, and report whether a pick moved (then we go round again).
  const live = new Set([...visited].map((r) => packageKey(r.name, r.slot)));
  for (const key of [...chosen.keys()]) if (!live.has(key)) chosen.delete(key);
  if (before.size !== chosen.size) return true;
  for (const [k, r] of chosen) if (before.get(k) !== r) return true;
  return false;
}

function pick(
  index: RecipeIndex,
  spec: DepSpec,
  from: string,
  chosen: Map<PackageKey, Recipe>,
  demands: Map<string, Demand[]>,
  request: ResolveRequest,
): PackageKey {
  // Alternatives: the first one already chosen, else the first one that has any candidate at all.
  const alt =
    spec.alternatives.find((a) => [...chosen.values()].some((r) => matchesRequirement(a, r))) ??
    spec.alternatives.find((a) => index.candidates(a.name).some((r) => matchesRequirement(a, r))) ??
    spec.alternatives[0];
  if (alt === undefined) throw new AppError('E_DEPSPEC_SYNTAX', `empty dependency in ${from}`);
  const list = demands.get(alt.name) ?? [];
  list.push({ req: alt, from });
  demands.set(alt.name, list);
  const all = index.candidates(alt.name);
  if (all.length === 0) throw notFound(index, alt, from);
  const fits = all.filter((r) =>
    list.every((d) => !sameSlotFamily(d.req, alt) || matchesRequirement(d.req, r)),
  );
  const usable = fits.filter((r) => matchesRequirement(alt, r));
  const preferred = usable.find((r) => request.prefer?.get(packageKey(r.name, r.slot)) === r.version);
  const best = preferred ?? usable[0];
  if (best === undefined) throw conflict(alt, list, all);
  const key = packageKey(best.name, best.slot);
  const current = chosen.get(key);
  if (
    current === undefined ||
    !list.every((d) => !sameSlotFamily(d.req, alt) || matchesRequirement(d.req, current))
  )
    chosen.set(key, best);
  return key;
}

/** Demands without a slot apply to whichever slot is picked; demands for another slot do not constrain this one. */
function sameSlotFamily(a: PackageRequirement, b: PackageRequirement): boolean {
  return a.slot === undefined || b.slot === undefined || a.slot === b.slot;
}

function optionsFor(r: Recipe, request: ResolveRequest): OptionSet {
  return { ...defaultOptions(r), ...(request.options?.[r.name] ?? {}) };
}

function toPlan(request: ResolveRequest, chosen: Map<PackageKey, Recipe>, roots: PackageKey[]) {
  const nodes = new Map<PackageKey, PlanNode>();
  const keyOf = (spec: DepSpec): PackageKey => {
    for (const alt of spec.alternatives)
      for (const [k, r] of chosen) if (matchesRequirement(alt, r)) return k;
    throw new AppError('E_RESOLVE_CONFLICT', `nothing chosen satisfies ${formatDepSpec(spec)}`);
  };
  for (const [key, recipe] of chosen) {
    const options = optionsFor(recipe, request);
    const active = (list: readonly DepSpec[]) =>
      list.filter((s) => conditionHolds(s.condition, options)).map(keyOf);
    nodes.set(key, {
      key,
      recipe,
      options,
      runDeps: active(recipe.depends.run),
      buildDeps: active(recipe.depends.build),
    });
  }
  checkAcyclic(nodes);
  return { nodes, roots: [...new Set(roots)] };
}

/** A build cannot start before its own dependencies are built, so a cycle is an error in the recipes. */
function checkAcyclic(nodes: ReadonlyMap<PackageKey, PlanNode>): void {
  const state = new Map<PackageKey, 'visiting' | 'done'>();
  const visit = (key: PackageKey, path: PackageKey[]): void => {
    if (state.get(key) === 'done') return;
    if (state.get(key) === 'visiting') {
      const cycle = [...path.slice(path.indexOf(key)), key].map((k) => k.replace(/:0$/, ''));
      throw new AppError('E_RESOLVE_CYCLE', `dependency cycle: ${cycle.join(' → ')}`, {
        hint: 'break the cycle in one of these recipes (often a build dependency that is not needed)',
      });
    }
    state.set(key, 'visiting');
    const node = nodes.get(key);
    for (const d of [...(node?.buildDeps ?? []), ...(node?.runDeps ?? [])]) visit(d, [...path, key]);
    state.set(key, 'done');
  };
  for (const key of [...nodes.keys()].sort()) visit(key, []);
}

function notFound(index: RecipeIndex, req: PackageRequirement, from: string): AppError {
  const close = index.names().filter((n) => n.includes(req.name) || req.name.includes(n));
  return new AppError('E_RECIPE_NOT_FOUND', `no recipe named "${req.name}" (required by ${from})`, {
    hint: close.length > 0 ? `did you mean: ${close.join(', ')}?` : 'add a ports tree with --ports DIR',
  });
}

function conflict(alt: PackageRequirement, demands: readonly Demand[], all: readonly Recipe[]): AppError {
  const lines = demands
    .filter((d) => d.req.range.length > 0 || d.req.slot !== undefined)
    .map(
      (d) =>
        `  ${d.from} requires ${d.req.name}${d.req.slot ? `:${d.req.slot}` : ''} ${formatRange(d.req.range)}`,
    );
  const have = all.map((r) => `${r.version}${r.slot === '0' ? '' : ` (slot ${r.slot})`}`).join(', ');
  return new AppError(
    'E_RESOLVE_CONFLICT',
    `no version of ${alt.name} satisfies every requirement:\n${lines.join('\n')}\n  the ports trees have: ${have}`,
    { hint: `relax one of the requirements, or add a recipe for a matching ${alt.name} version` },
  );
}
