import { AppError } from '../core/index.js';
import { conditionHolds, type DepSpec, type OptionSet, type RecipeIndex } from '../recipe/index.js';
import { RecipeCandidates, requirement, term } from './candidates.js';
import { packageKey, type PackageKey, type Plan, type PlanNode } from './plan.js';
import { renderExplanation, solve, termMatches, type Candidate, type Origin } from './solver/index.js';

export interface ResolveRequest {
  readonly specs: readonly DepSpec[];
  /** Where each spec was written (same order as `specs`), for explanations: `ferry.toml:3`. */
  readonly origins?: readonly (Origin | undefined)[];
  /** Who asks, in explanations: "profile web", "the request". */
  readonly rootName?: string;
  /** Per package name, options to force on or off. */
  readonly options?: Readonly<Record<string, OptionSet>>;
  /** Preferred versions (the lock, or what the profile has now): tried first when they still satisfy. */
  readonly prefer?: ReadonlyMap<PackageKey, string>;
  /** How file names appear in explanations (e.g. relative to the working directory). */
  readonly showFile?: (file: string) => string;
}

/**
 * Picks one recipe per name:slot with the complete solver (`solver/`), then turns the answer into a build
 * plan. When there is no answer the error carries the solver's derivation, with file:line for each step.
 */
export function resolve(index: RecipeIndex, request: ResolveRequest): Plan {
  for (const spec of request.specs) checkKnown(index, spec);
  const source = new RecipeCandidates(index, request.options ?? {}, request.showFile);
  const requires = request.specs.map((s, i) => requirement(s, request.origins?.[i]));
  const result = solve(source, { requires, ...(request.prefer ? { preferred: request.prefer } : {}) });
  if (result.kind === 'unsat') {
    const text = renderExplanation(result.explanation, { rootName: request.rootName ?? 'the request' });
    const lines = text.split('\n');
    const hint = lines.at(-1)?.startsWith('hint: ') === true ? lines.pop()?.slice(6) : undefined;
    throw new AppError('E_RESOLVE_CONFLICT', lines.join('\n'), {
      ...(hint === undefined ? {} : { hint }),
      details: { explanation: result.explanation },
    });
  }
  return toPlan(source, result.chosen, request.specs);
}

/** A requested name no tree knows is most often a typo: say so with close names, before solving. */
function checkKnown(index: RecipeIndex, spec: DepSpec): void {
  const known = spec.alternatives.some(
    (a) => index.candidates(a.name).length > 0 || providedBy(index, a.name),
  );
  const first = spec.alternatives[0];
  if (known || first === undefined) return;
  const close = index.names().filter((n) => n.includes(first.name) || first.name.includes(n));
  throw new AppError('E_RECIPE_NOT_FOUND', `no recipe named "${first.name}" (required by the request)`, {
    hint: close.length > 0 ? `did you mean: ${close.join(', ')}?` : 'add a ports tree with --ports DIR',
  });
}

function providedBy(index: RecipeIndex, name: string): boolean {
  const provides = (p: string) => (p.split('=')[0] ?? p).trim() === name;
  return index.names().some((n) => index.candidates(n).some((r) => r.depends.provides.some(provides)));
}

function toPlan(source: RecipeCandidates, chosen: readonly Candidate[], specs: readonly DepSpec[]): Plan {
  const keyOf = (spec: DepSpec): PackageKey => {
    for (const alt of spec.alternatives)
      for (const c of chosen) if (termMatches(term(alt), c)) return packageKey(c.name, c.slot);
    throw new AppError('E_RESOLVE_CONFLICT', `nothing chosen satisfies ${spec.text}`);
  };
  const nodes = new Map<PackageKey, PlanNode>();
  for (const c of chosen) {
    const recipe = source.recipeOf(c);
    if (recipe === undefined) throw new Error(`solver chose ${c.name} ${c.version}, which no recipe gave`);
    const options = source.optionsOf(recipe);
    const active = (list: readonly DepSpec[]) =>
      list.filter((s) => conditionHolds(s.condition, options)).map(keyOf);
    const key = packageKey(recipe.name, recipe.slot);
    nodes.set(key, {
      key,
      recipe,
      options,
      runDeps: active(recipe.depends.run),
      buildDeps: active(recipe.depends.build),
    });
  }
  checkAcyclic(nodes);
  return { nodes, roots: [...new Set(specs.map(keyOf))] };
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
