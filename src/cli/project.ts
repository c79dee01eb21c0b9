import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { AppError, type Sha256 } from '../core/index.js';
import { realisePlanIds } from '../build/index.js';
import { formatDepSpec } from '../recipe/index.js';
import {
  LOCK_FORMAT_VERSION,
  lockProfile,
  packageKey,
  parseLock,
  parseManifest,
  planFromLock,
  resolve,
  runClosure,
  serializeLock,
  type LockedProfile,
  type Lockfile,
  type Manifest,
  type ManifestProfile,
  type PackageKey,
  type Plan,
} from '../resolve/index.js';
import { writeFileAtomic } from '../platform/index.js';
import { App, packageDir, showFile } from './app.js';
import { stringOption } from './args.js';

/** A project: ferry.toml, its lock, and an App whose ports are the manifest's trees. */
export interface Project {
  readonly manifest: Manifest;
  readonly lockFile: string;
  readonly lock: Lockfile | undefined;
  readonly app: App;
}

export function findManifestFile(app: App, required: boolean): string | undefined {
  const given = stringOption(app.options, 'manifest');
  if (given !== undefined) return resolvePath(given);
  for (let dir = process.cwd(); ; dir = dirname(dir)) {
    const f = join(dir, 'ferry.toml');
    if (existsSync(f)) return f;
    if (dirname(dir) === dir) break;
  }
  if (required)
    throw new AppError('E_MANIFEST_NOT_FOUND', `no ferry.toml in ${process.cwd()} or any parent directory`, {
      hint: 'run this in a project directory, or pass --manifest FILE',
    });
  return undefined;
}

export function openProject(app: App, file: string): Project {
  const manifest = parseManifest(readFileSync(file, 'utf8'), file);
  const dir = dirname(file);
  const lockFile = join(dir, 'ferry.lock');
  // Read on first use: a deploy starts its logins to hosts before it needs the lock (~10 ms to parse).
  let lock: Lockfile | undefined | null = null; // null: not read yet
  const readLock = () => {
    if (lock === null)
      lock = existsSync(lockFile) ? parseLock(readFileSync(lockFile, 'utf8'), lockFile) : undefined;
    return lock;
  };
  const trees = manifest.ports.map((p) =>
    p === 'builtin' ? join(packageDir, 'ports') : resolvePath(dir, p),
  );
  const extra = app.ctx.portsDirs.filter((p) => p !== join(packageDir, 'ports'));
  const projectApp = new App({ ...app.options, ports: [...extra, ...trees] }, app.ctx.env, app.ctx.reporter, {
    bundled: false,
  });
  return {
    manifest,
    lockFile,
    get lock() {
      return readLock();
    },
    app: projectApp,
  };
}

export function manifestProfile(project: Project, name: string): ManifestProfile {
  const p = project.manifest.profiles.get(name);
  if (p === undefined)
    throw new AppError('E_MANIFEST_PROFILE', `${project.manifest.file} has no profile "${name}"`, {
      hint: `profiles there: ${[...project.manifest.profiles.keys()].join(', ') || '(none)'}`,
    });
  return p;
}

function optionStrings(p: ManifestProfile): Record<string, string[]> {
  return Object.fromEntries(
    Object.entries(p.options).map(([pkg, o]) => [
      pkg,
      Object.entries(o).map(([k, on]) => `${on ? '+' : '-'}${k}`),
    ]),
  );
}

/** The lock still describes what the manifest asks for (same requests, same option overrides). */
function lockMatches(locked: LockedProfile | undefined, p: ManifestProfile): locked is LockedProfile {
  return (
    locked !== undefined &&
    JSON.stringify(locked.requests) === JSON.stringify(p.packages.map(formatDepSpec)) &&
    JSON.stringify(sorted(locked.options)) === JSON.stringify(sorted(optionStrings(p)))
  );
}

function sorted<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
}

export interface ResolvedProfile {
  readonly plan: Plan;
  readonly ids: ReadonlyMap<PackageKey, string>;
  readonly sourceHashes: ReadonlyMap<PackageKey, readonly Sha256[]>;
  readonly fromLock: boolean;
}

/**
 * The plan for a manifest profile: the lock's, when it matches the manifest and its recipes; otherwise a fresh
 * resolution that keeps locked versions where they still fit (minus `unlock`, the names `ferry update` frees).
 */
export async function resolveProfile(project: Project, name: string, unlock?: ReadonlySet<string>) {
  const p = manifestProfile(project, name);
  const locked = project.lock?.profiles.find((l) => l.name === name);
  const index = project.app.index();
  if (unlock === undefined && lockMatches(locked, p)) {
    try {
      const plan = planFromLock(index, locked, project.lockFile);
      return { ...(await realisePlanIds(plan)), fromLock: true } satisfies ResolvedProfile;
    } catch (e) {
      if (!(e instanceof AppError) || e.code !== 'E_LOCK_STALE') throw e;
      project.app.ctx.reporter.warn('E_LOCK_STALE', `${e.message}; re-resolving profile ${name}`);
    }
  }
  const prefer = new Map(
    (locked?.packages ?? [])
      .filter((x) => unlock === undefined || (unlock.size > 0 && !unlock.has(x.name)))
      .map((x) => [packageKey(x.name, x.slot), x.version]),
  );
  const file = showFile(project.manifest.file);
  const plan = resolve(index, {
    specs: p.packages,
    origins: p.lines.map((line) => ({ file, line })),
    rootName: `profile ${name}`,
    options: p.options,
    prefer,
    showFile,
  });
  return { ...(await realisePlanIds(plan)), fromLock: false } satisfies ResolvedProfile;
}

export interface LockChange {
  readonly profile: string;
  readonly changes: readonly string[];
}

/** `ferry lock` / `ferry update`: resolve every profile and write ferry.lock atomically. */
export async function writeLock(project: Project, unlock?: ReadonlySet<string>): Promise<LockChange[]> {
  const profiles: LockedProfile[] = [];
  const report: LockChange[] = [];
  for (const [name, p] of [...project.manifest.profiles].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const r = await resolveProfile(project, name, unlock);
    const locked = lockProfile(
      name,
      p.packages.map(formatDepSpec),
      optionStrings(p),
      r.plan,
      r.ids,
      r.sourceHashes,
    );
    profiles.push(locked);
    report.push({
      profile: name,
      changes: describeLockChange(
        project.lock?.profiles.find((l) => l.name === name),
        locked,
      ),
    });
  }
  await writeFileAtomic(project.lockFile, serializeLock({ formatVersion: LOCK_FORMAT_VERSION, profiles }));
  return report;
}

function describeLockChange(before: LockedProfile | undefined, after: LockedProfile): string[] {
  const old = new Map((before?.packages ?? []).map((p) => [packageKey(p.name, p.slot), p]));
  const now = new Map(after.packages.map((p) => [packageKey(p.name, p.slot), p]));
  const out: string[] = [];
  for (const [k, p] of now) {
    const o = old.get(k);
    if (o === undefined) out.push(`+ ${p.name} ${p.version}`);
    else if (o.version !== p.version) out.push(`~ ${p.name} ${o.version} → ${p.version}`);
    else if (o.store !== p.store) out.push(`~ ${p.name} ${p.version} (inputs changed)`);
  }
  for (const [k, o] of old) if (!now.has(k)) out.push(`- ${o.name} ${o.version}`);
  return out;
}

export function closureKeys(plan: Plan): PackageKey[] {
  return runClosure(plan, plan.roots);
}
