import { AppError, type Context, type Sha256 } from '../core/index.js';
import { sourceHash } from '../fetch/index.js';
import type { RecipeIndex } from '../recipe/index.js';
import { runClosure, topoOrder, type PackageKey, type Plan, type PlanNode } from '../resolve/index.js';
import type { Store, StoreId } from '../store/index.js';
import { buildOne, type BuilderOptions, type BuildOutcome } from './builder.js';
import { computeStoreIds, hostPlatform } from './ids.js';
import { runDag, type JobOutcome } from './schedule.js';

export interface RealisedPlan {
  readonly plan: Plan;
  readonly ids: ReadonlyMap<PackageKey, StoreId>;
  readonly sourceHashes: ReadonlyMap<PackageKey, readonly Sha256[]>;
}

/** Store path names for a plan, without building anything (cheap: only local path sources are hashed). */
export async function realisePlanIds(plan: Plan): Promise<RealisedPlan> {
  const hashes = new Map<PackageKey, Sha256[]>();
  for (const [key, node] of plan.nodes) hashes.set(key, await sourceHashes(node));
  return { plan, ids: computeStoreIds(plan, hashes, hostPlatform()), sourceHashes: hashes };
}

async function realisedWithRoots(store: Store, plan: Plan): Promise<RealisedPlan> {
  const realised = await realisePlanIds(plan);
  await store.addTempRoots(realised.ids.values());
  return realised;
}

export interface BuildPlanOptions extends Omit<BuilderOptions, 'suggest'> {
  readonly parallel: number;
  readonly keepGoing: boolean;
  readonly index: RecipeIndex;
}

export interface BuildReport {
  readonly results: ReadonlyMap<PackageKey, JobOutcome<BuildOutcome>>;
  readonly ids: ReadonlyMap<PackageKey, StoreId>;
  readonly failed: boolean;
}

/** Build every node of the plan that the store lacks, independent ones in parallel. */
export async function buildPlan(
  ctx: Context,
  store: Store,
  planOrRealised: Plan | RealisedPlan,
  opts: BuildPlanOptions,
): Promise<BuildReport> {
  // A caller with a realised plan has announced its ids already (it needed them to substitute).
  const realised = 'ids' in planOrRealised ? planOrRealised : await realisedWithRoots(store, planOrRealised);
  const { plan, ids } = realised;
  const idOf = (k: PackageKey): StoreId => {
    const id = ids.get(k);
    if (id === undefined) throw new Error(`Assertion failed: no store id for ${k}`);
    return id;
  };
  const suggest = suggester(opts.index);
  const absent = new Set(store.missing(ids.values()));
  const keys = neededKeys(plan, (k) => !absent.has(idOf(k)));
  const results = await runDag(
    keys,
    {
      jobs: opts.parallel,
      keepGoing: opts.keepGoing,
      deps: (k) => [...(plan.nodes.get(k)?.buildDeps ?? []), ...(plan.nodes.get(k)?.runDeps ?? [])],
    },
    async (key) => {
      const node = plan.nodes.get(key);
      if (node === undefined) throw new Error(`Assertion failed: ${key} not in plan`);
      if (!absent.has(idOf(key))) return { status: 'present', id: idOf(key) } satisfies BuildOutcome;
      const runInputs = runClosure(plan, node.runDeps);
      const buildOnly = runClosure(plan, node.buildDeps).filter((k) => !runInputs.includes(k));
      return buildOne(
        ctx,
        store,
        {
          node,
          id: idOf(key),
          sourceHashes: realised.sourceHashes.get(key) ?? (await sourceHashes(node)),
          references: node.runDeps.map(idOf),
          runInputs: runInputs.map(idOf),
          buildOnlyInputs: buildOnly.map(idOf),
          platform: hostPlatform(),
        },
        { ...opts, suggest },
      );
    },
  );
  const failed = [...results.values()].some((r) => r.status !== 'done');
  return { results, ids, failed };
}

/**
 * The nodes this plan must realise, in dependency order: the run closure of the roots, plus, for each node the
 * store lacks, what its build needs. A node already present (built before, or substituted from a cache) needs
 * nothing built, so its build-only dependencies are skipped.
 */
function neededKeys(plan: Plan, present: (k: PackageKey) => boolean): PackageKey[] {
  const needed = new Set<PackageKey>();
  const visit = (key: PackageKey): void => {
    if (needed.has(key)) return;
    needed.add(key);
    const node = plan.nodes.get(key);
    if (node === undefined) return;
    for (const d of present(key) ? node.runDeps : [...node.buildDeps, ...node.runDeps]) visit(d);
  };
  for (const root of plan.roots) visit(root);
  return topoOrder(plan).filter((k) => needed.has(k));
}

async function sourceHashes(node: PlanNode): Promise<Sha256[]> {
  const out: Sha256[] = [];
  for (const s of node.recipe.sources) out.push(await sourceHash(node.recipe, s));
  return out;
}

/** Guess the recipe that provides a library: libpcre2-8.so.0 → pcre2, libz.so.1 → zlib. */
function suggester(index: RecipeIndex): (soname: string) => string | undefined {
  return (soname) => {
    const stem = soname.replace(/^lib/, '').replace(/\.so.*$/, '');
    const names = index.names();
    const bare = stem.replace(/[-_.]?[\d.]+$/, '').replace(/-\d+$/, '');
    return (
      names.find((n) => n === stem) ??
      names.find((n) => n === bare) ??
      names.find((n) => n === `lib${bare}`) ??
      names.find((n) => n.startsWith(bare) && bare.length >= 2) ??
      (bare === 'z' ? names.find((n) => n === 'zlib') : undefined)
    );
  };
}

export function describeFailure(outcome: JobOutcome<BuildOutcome>): AppError | undefined {
  if (outcome.status === 'failed') {
    const e = outcome.error;
    return e instanceof AppError ? e : new AppError('E_BUILD_FAILED', String(e), { cause: e });
  }
  if (outcome.status === 'skipped')
    return new AppError('E_BUILD_DEPFAILED', `not built because ${outcome.because} did not build`);
  return undefined;
}
