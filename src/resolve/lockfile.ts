import { AppError, tryParseSha256, type Sha256 } from '../core/index.js';
import { parseTomlText, type RecipeIndex } from '../recipe/index.js';
import { packageKey, type PackageKey, type Plan, type PlanNode } from './plan.js';

export const LOCK_FORMAT_VERSION = 1;

export interface LockedPackage {
  readonly name: string;
  readonly slot: string;
  readonly version: string;
  readonly options: Readonly<Record<string, boolean>>;
  readonly recipe: Sha256;
  readonly sources: readonly Sha256[];
  readonly depends: readonly PackageKey[];
  readonly buildDepends: readonly PackageKey[];
  readonly store: string;
}

export interface LockedProfile {
  readonly name: string;
  /** The manifest's requests as written (canonical form), and its option overrides: a changed manifest makes the lock stale. */
  readonly requests: readonly string[];
  readonly options: Readonly<Record<string, readonly string[]>>;
  readonly roots: readonly PackageKey[];
  readonly packages: readonly LockedPackage[];
}

export interface Lockfile {
  readonly formatVersion: number;
  readonly profiles: readonly LockedProfile[];
}

/** One plan and its store path names → a locked profile (sorted, so equal inputs give equal bytes). */
export function lockProfile(
  name: string,
  requests: readonly string[],
  options: Readonly<Record<string, readonly string[]>>,
  plan: Plan,
  ids: ReadonlyMap<PackageKey, string>,
  sources: ReadonlyMap<PackageKey, readonly Sha256[]>,
): LockedProfile {
  const packages = [...plan.nodes.values()].map((n) => ({
    name: n.recipe.name,
    slot: n.recipe.slot,
    version: n.recipe.version,
    options: sortKeys(n.options),
    recipe: n.recipe.recipeHash,
    sources: sources.get(n.key) ?? [],
    depends: [...n.runDeps].sort(),
    buildDepends: [...n.buildDeps].sort(),
    store: ids.get(n.key) ?? '',
  }));
  packages.sort((a, b) => cmp(packageKey(a.name, a.slot), packageKey(b.name, b.slot)));
  return {
    name,
    requests: [...requests],
    options: sortKeys(options),
    roots: [...plan.roots].sort(),
    packages,
  };
}

/** Deterministic TOML: same lock, same bytes; one line per field so diffs read well. */
export function serializeLock(lock: Lockfile): string {
  const q = (s: string) => JSON.stringify(s);
  const list = (xs: readonly string[]) => `[${xs.map(q).join(', ')}]`;
  const out = [
    '# ferry.lock: written by `ferry lock` and `ferry update`; do not edit by hand.',
    `formatVersion = ${lock.formatVersion}`,
  ];
  for (const p of [...lock.profiles].sort((a, b) => cmp(a.name, b.name))) {
    out.push('', '[[profile]]', `name = ${q(p.name)}`, `requests = ${list(p.requests)}`);
    const opts = Object.entries(p.options).map(([k, v]) => `${q(k)} = ${list(v)}`);
    out.push(`options = { ${opts.join(', ')} }`.replace('{  }', '{}'), `roots = ${list(p.roots)}`);
    for (const pkg of p.packages) {
      out.push(
        '',
        '[[profile.package]]',
        `name = ${q(pkg.name)}`,
        `slot = ${q(pkg.slot)}`,
        `version = ${q(pkg.version)}`,
      );
      out.push(`options = ${list(Object.entries(pkg.options).map(([k, on]) => `${on ? '+' : '-'}${k}`))}`);
      out.push(`recipe = ${q(pkg.recipe)}`, `sources = ${list(pkg.sources)}`);
      out.push(
        `depends = ${list(pkg.depends)}`,
        `build-depends = ${list(pkg.buildDepends)}`,
        `store = ${q(pkg.store)}`,
      );
    }
  }
  return `${out.join('\n')}\n`;
}

export function parseLock(text: string, file: string): Lockfile {
  const doc = parseTomlText(text, file, 'E_LOCK_FORMAT');
  const bad = (what: string): never => {
    throw new AppError('E_LOCK_FORMAT', `${file}: ${what}`, { hint: 'regenerate it with `ferry lock`' });
  };
  const version = doc.formatVersion;
  if (typeof version !== 'number') return bad('formatVersion is missing');
  if (version > LOCK_FORMAT_VERSION)
    throw new AppError(
      'E_LOCK_FORMAT',
      `${file} has formatVersion ${version}; this ferry reads up to ${LOCK_FORMAT_VERSION}`,
      {
        hint: 'upgrade ferry',
      },
    );
  const profiles = (Array.isArray(doc.profile) ? doc.profile : []) as Record<string, unknown>[];
  return { formatVersion: version, profiles: profiles.map((p) => readProfile(p, bad)) };
}

function readProfile(p: Record<string, unknown>, bad: (what: string) => never): LockedProfile {
  const str = (v: unknown, what: string) => (typeof v === 'string' ? v : bad(`${what} must be a string`));
  const strs = (v: unknown, what: string) =>
    Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : bad(`${what} must be a list of strings`);
  const name = str(p.name, 'profile.name');
  const pkgs = (Array.isArray(p.package) ? p.package : []) as Record<string, unknown>[];
  const options = (typeof p.options === 'object' && p.options !== null ? p.options : {}) as Record<
    string,
    unknown
  >;
  return {
    name,
    requests: strs(p.requests, `profile ${name} requests`),
    options: Object.fromEntries(Object.entries(options).map(([k, v]) => [k, strs(v, `options of ${k}`)])),
    roots: strs(p.roots, `profile ${name} roots`),
    packages: pkgs.map((x) => {
      const hash = (v: unknown, what: string) =>
        tryParseSha256(str(v, what)) ?? bad(`${what} is not a sha256`);
      return {
        name: str(x.name, 'package.name'),
        slot: str(x.slot, 'package.slot'),
        version: str(x.version, 'package.version'),
        options: Object.fromEntries(
          strs(x.options, 'package.options').map((o) => [o.slice(1), o.startsWith('+')]),
        ),
        recipe: hash(x.recipe, 'package.recipe'),
        sources: strs(x.sources, 'package.sources').map((s) => hash(s, 'package.sources')),
        depends: strs(x.depends, 'package.depends'),
        buildDepends: strs(x['build-depends'], 'package.build-depends'),
        store: str(x.store, 'package.store'),
      };
    }),
  };
}

/**
 * Rebuild the plan a lock describes, against today's recipes. A locked recipe that changed or disappeared
 * makes the lock stale: the lock promised those exact inputs.
 */
export function planFromLock(index: RecipeIndex, locked: LockedProfile, lockFile: string): Plan {
  const nodes = new Map<PackageKey, PlanNode>();
  for (const pkg of locked.packages) {
    const recipe = index.candidates(pkg.name).find((r) => r.version === pkg.version && r.slot === pkg.slot);
    if (recipe?.recipeHash !== pkg.recipe)
      throw new AppError(
        'E_LOCK_STALE',
        `${lockFile}: ${pkg.name} ${pkg.version} ${recipe === undefined ? 'has no recipe any more' : `changed since it was locked (${recipe.file})`}`,
        { hint: `run \`ferry lock\` to re-resolve (or \`ferry update ${pkg.name}\`)` },
      );
    const key = packageKey(pkg.name, pkg.slot);
    nodes.set(key, { key, recipe, options: pkg.options, runDeps: pkg.depends, buildDeps: pkg.buildDepends });
  }
  return { nodes, roots: locked.roots };
}

function sortKeys<T>(o: Readonly<Record<string, T>>): Record<string, T> {
  return Object.fromEntries(
    Object.keys(o)
      .sort(cmp)
      .map((k) => [k, o[k] as T]),
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
