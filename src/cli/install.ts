import { AppError } from '../core/index.js';
import { buildPlan, describeFailure, defaultJobs, realisePlanIds, type BuildReport } from '../build/index.js';
import { formatDepSpec, parseDepSpec, type DepSpec } from '../recipe/index.js';
import { packageKey, resolve, runClosure, type PackageKey, type Plan } from '../resolve/index.js';
import {
  diffPackages,
  Profile,
  type GenerationDiff,
  type GenerationManifest,
  type GenerationPackage,
} from '../profile/index.js';
import type { StoreId } from '../store/index.js';
import { NoSandbox, Witness } from '../platform/index.js';
import { showFile, type App } from './app.js';
import { substitutePlan } from './binary.js';
import { intOption, stringOption } from './args.js';
import { noteSources, record, unchanged } from './up-to-date.js';

export interface BuildResult {
  /** The packages asked for (name:slot), as opposed to dependencies built on the way. */
  readonly requested: readonly string[];
  readonly built: readonly { key: string; storePath: string; status: string }[];
  readonly failures: readonly { key: string; code: string; message: string; hint?: string }[];
}

export interface ChangeResult {
  readonly profile: string;
  readonly from?: number;
  readonly to?: number;
  readonly changed: boolean;
  readonly diff: GenerationDiff;
  readonly build: BuildResult;
  /** Set when nothing was resolved: the recorded paths checked unchanged since the generation was made. */
  readonly checked?: number;
}

function parseSpecs(args: readonly string[]): DepSpec[] {
  if (args.length === 0)
    throw new AppError('E_USAGE', 'name at least one package', {
      hint: 'e.g. ferry install zlib "pcre2 >= 10"',
    });
  return args.map((a) => parseDepSpec(a));
}

/** Resolve and build; failures are reported per package, never thrown, so the caller can say what happened. */
export async function resolveAndBuild(
  app: App,
  specs: readonly DepSpec[],
  prefer?: ReadonlyMap<PackageKey, string>,
  witness?: Witness,
) {
  const plan = resolve(witness === undefined ? app.index() : app.observedIndex(witness), {
    specs,
    rootName: 'the request',
    showFile,
    ...(prefer === undefined ? {} : { prefer }),
  });
  if (witness !== undefined) noteSources(witness, plan);
  return buildResolved(app, plan);
}

/** Build every node of an already resolved plan (from the resolver or a lock). */
export async function buildResolved(app: App, plan: Plan) {
  const store = await app.store();
  const realised = await realisePlanIds(plan);
  const ids = realised.ids;
  await store.addTempRoots(ids.values());
  const substituted = await substitutePlan(app, store, plan, ids);
  if (app.options['no-build'] === true && substituted.missing.length > 0)
    throw new AppError('E_CACHE_MISSING', `no cache has ${substituted.missing.join(', ')} (--no-build)`, {
      hint: 'push them from a machine that built them (ferry cache push), or drop --no-build to build here',
    });
  // Probing the sandbox starts a process: only worth it when something is left to build.
  const toBuild = store.missing(ids.values()).length > 0;
  const report = await buildPlan(app.ctx, store, realised, {
    sandbox: toBuild ? await app.sandbox() : new NoSandbox(),
    jobs: defaultJobs(),
    parallel: intOption(app.options, 'jobs', defaultJobs()) || 1,
    keepGoing: app.options['keep-going'] === true,
    allowNetwork: app.options.offline !== true,
    index: app.index(),
  });
  return { plan, report, store, substituted: substituted.installed };
}

export function summarise(
  plan: Plan,
  report: BuildReport,
  storeDir: string,
  substituted: readonly StoreId[] = [],
): BuildResult {
  const built: BuildResult['built'][number][] = [];
  const failures: BuildResult['failures'][number][] = [];
  for (const [key, outcome] of report.results) {
    const err = describeFailure(outcome);
    if (err !== undefined) {
      failures.push({
        key,
        code: err.code,
        message: err.message,
        ...(err.hint === undefined ? {} : { hint: err.hint }),
      });
      continue;
    }
    if (outcome.status === 'done') {
      const status = substituted.includes(outcome.value.id) ? 'substituted' : outcome.value.status;
      built.push({ key, storePath: `${storeDir}/${outcome.value.id}`, status });
    }
  }
  return { requested: plan.roots, built, failures };
}

export async function buildCommand(app: App, args: readonly string[]): Promise<BuildResult> {
  const { plan, report, store, substituted } = await resolveAndBuild(app, parseSpecs(args));
  return summarise(plan, report, store.storeDir, substituted);
}

export function packagesOf(plan: Plan, ids: ReadonlyMap<PackageKey, StoreId>): GenerationPackage[] {
  const roots = new Set(plan.roots);
  return runClosure(plan, plan.roots).map((key) => {
    const node = plan.nodes.get(key);
    const storeId = ids.get(key);
    if (node === undefined || storeId === undefined)
      throw new Error(`Assertion failed: ${key} missing from plan`);
    const r = node.recipe;
    return {
      name: r.name,
      version: r.version,
      slot: r.slot,
      storeId,
      options: node.options,
      requested: roots.has(key),
    };
  });
}

/** Install or remove: re-resolve the profile's requests, build, then switch to a new generation atomically. */
export async function changeProfile(
  app: App,
  edit: (requests: DepSpec[]) => DepSpec[],
): Promise<ChangeResult> {
  const store = await app.store();
  const profile = new Profile(store, stringOption(app.options, 'profile') ?? 'default');
  const lock = await profile.lock();
  try {
    const before = await profile.currentManifest();
    const requests = edit((before?.requests ?? []).map((s) => parseDepSpec(s)));
    const formatted = requests.map(formatDepSpec);
    const same = await unchanged(app, profile, before, formatted);
    if (same !== undefined) return same;
    const touched = new Set(requests.flatMap((r) => r.alternatives.map((a) => a.name)));
    const prefer = new Map(
      (before?.packages ?? [])
        .filter((p) => !touched.has(p.name) || !p.requested)
        .map((p) => [packageKey(p.name, p.slot), p.version]),
    );
    const witness = new Witness();
    const { plan, report, substituted } = await resolveAndBuild(app, requests, prefer, witness);
    const result = await commitGeneration(profile, before, formatted, plan, report, substituted);
    await record(app, profile, formatted, result, witness);
    return result;
  } finally {
    await lock.release();
  }
}

/**
 * After a build: make and switch to a new generation holding the plan's closure, unless nothing changed or a
 * build failed (then the profile stays as it was). Call with the profile lock held.
 */
export async function commitGeneration(
  profile: Profile,
  before: GenerationManifest | undefined,
  requests: readonly string[],
  plan: Plan,
  report: BuildReport,
  substituted: readonly StoreId[] = [],
): Promise<ChangeResult> {
  const build = summarise(plan, report, profile.storeDir, substituted);
  const base = { profile: profile.name, ...(before === undefined ? {} : { from: before.number }), build };
  if (report.failed) return { ...base, changed: false, diff: diffPackages([], []) };
  const packages = packagesOf(plan, report.ids);
  const diff = diffPackages(before?.packages ?? [], packages);
  const same =
    before !== undefined &&
    sameSet(before.packages, packages) &&
    before.requests.join('\n') === requests.join('\n');
  if (same) return { ...base, to: before.number, changed: false, diff };
  const n = await profile.create(requests, packages);
  await profile.switchTo(n);
  return { ...base, to: n, changed: true, diff };
}

function sameSet(a: readonly GenerationPackage[], b: readonly GenerationPackage[]): boolean {
  const key = (p: GenerationPackage) => `${p.storeId}:${p.requested}`;
  const x = a.map(key).sort().join(',');
  return x === b.map(key).sort().join(',');
}

export function installEdit(args: readonly string[]) {
  const specs = parseSpecs(args);
  const names = new Set(specs.flatMap((s) => s.alternatives.map((a) => `${a.name}:${a.slot ?? ''}`)));
  return (requests: DepSpec[]) => [
    ...requests.filter((r) => !r.alternatives.some((a) => names.has(`${a.name}:${a.slot ?? ''}`))),
    ...specs,
  ];
}

export function removeEdit(args: readonly string[], profileName: string) {
  if (args.length === 0) throw new AppError('E_USAGE', 'name at least one package to remove');
  return (requests: DepSpec[]) => {
    const kept = requests.filter(
      (r) => !r.alternatives.some((a) => args.includes(a.name) || args.includes(`${a.name}:${a.slot ?? ''}`)),
    );
    const missing = args.filter(
      (n) => !requests.some((r) => r.alternatives.some((a) => a.name === n.split(':')[0])),
    );
    if (missing.length > 0)
      throw new AppError(
        'E_PROFILE_NOT_INSTALLED',
        `${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not installed in profile ${profileName}`,
        {
          hint: `see what is: ferry generations --profile ${profileName}`,
        },
      );
    return kept;
  };
}
