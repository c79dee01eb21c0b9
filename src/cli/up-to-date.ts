import { mkdir, readdir, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { hostPlatform } from '../build/index.js';
import { buildId } from '../core/index.js';
import { hashedLocalPaths } from '../fetch/index.js';
import {
  readTextIfExists,
  recheck,
  writeFileAtomic,
  type Witness,
  type WitnessEntry,
} from '../platform/index.js';
import { diffPackages, type GenerationManifest, type Profile } from '../profile/index.js';
import type { Plan } from '../resolve/index.js';
import type { App } from './app.js';
import type { BuildResult, ChangeResult } from './install.js';

/**
 * "Nothing to do" without resolving, hashing or opening a store path, the way make and git decide a file is
 * unchanged: when an install or remove leaves a profile on generation N, ferry records what it read to get
 * there (every ports directory listed, recipe read and local source file hashed, each with its signature:
 * inode, size, mtime, ctime) under a key of everything else that went in (the requests, the ports trees, the
 * platform, this ferry's build). The next install with the same key, on the same generation N, whose recorded
 * paths all look the same, would resolve to N again: it says so after one lstat per path. Anything else, or any
 * doubt (a path changed within two seconds of being read, a missing record), takes the full way.
 */
const FORMAT = 2;

interface Record_ {
  readonly format: number;
  readonly key: string;
  readonly generation: number;
  readonly requested: readonly string[];
  readonly built: readonly { key: string; storePath: string }[];
  readonly read: readonly WitnessEntry[];
}

function recordFile(app: App, profile: Profile): string {
  return join(app.ctx.rootDir, 'var', 'cache', 'up-to-date', `${profile.name}.json`);
}

function inputsKey(app: App, requests: readonly string[]): string | undefined {
  const build = buildId();
  if (build === undefined) return undefined;
  const inputs = {
    build,
    root: app.ctx.rootDir,
    ports: app.ctx.portsDirs,
    platform: hostPlatform(),
    requests,
  };
  return JSON.stringify(inputs); // compared whole: no hash needed, and node:crypto stays unloaded
}

/** The result of an install or remove that would change nothing, when the record shows it; else undefined. */
export async function unchanged(
  app: App,
  profile: Profile,
  before: GenerationManifest | undefined,
  requests: readonly string[],
): Promise<ChangeResult | undefined> {
  const key = inputsKey(app, requests);
  if (before === undefined || key === undefined || before.requests.join('\n') !== requests.join('\n')) return;
  const rec = await readRecord(recordFile(app, profile));
  if (rec?.key !== key || rec.generation !== before.number) return;
  const { changed, checked } = recheck(rec.read);
  if (changed !== undefined) return;
  const store = await app.store();
  if (store.missing(before.packages.map((p) => p.storeId)).length > 0) return;
  const build: BuildResult = {
    requested: rec.requested,
    built: rec.built.map((b) => ({ ...b, status: 'present' })),
    failures: [],
  };
  const diff = diffPackages(before.packages, before.packages);
  return {
    profile: profile.name,
    from: before.number,
    build,
    to: before.number,
    changed: false,
    diff,
    checked,
  };
}

/** Look at every local source of the plan before it is hashed (the recipes were looked at as they were read). */
export function noteSources(witness: Witness, plan: Plan): void {
  for (const node of plan.nodes.values())
    for (const path of hashedLocalPaths(node.recipe)) witness.noteTree(path);
}

/** After an install or remove that succeeded: what it read, for the next one. Best effort: a cache. Call with the profile lock held. */
export async function record(
  app: App,
  profile: Profile,
  requests: readonly string[],
  result: ChangeResult,
  witness: Witness,
): Promise<void> {
  const key = inputsKey(app, requests);
  if (key === undefined || result.to === undefined || result.build.failures.length > 0) return;
  if (witness.racy()) return;
  const rec: Record_ = {
    format: FORMAT,
    key,
    generation: result.to,
    requested: result.build.requested,
    built: result.build.built.map(({ key: k, storePath }) => ({ key: k, storePath })),
    read: witness.entries(),
  };
  const file = recordFile(app, profile);
  try {
    await mkdir(dirname(file), { recursive: true });
    // A write killed half-way left its temporary file; this profile's are ours to remove (under its lock).
    const stale = `.tmp-${basename(file)}-`;
    for (const f of await readdir(dirname(file))) if (f.startsWith(stale)) await rm(join(dirname(file), f));
    await writeFileAtomic(file, `${JSON.stringify(rec)}\n`);
  } catch {
    // A read-only root only costs the shortcut.
  }
}

/** The record, when it is one of this format; a damaged or older one counts as none. */
async function readRecord(file: string): Promise<Record_ | undefined> {
  let r: Partial<Record_>;
  try {
    r = JSON.parse((await readTextIfExists(file)) ?? '{}') as Partial<Record_>;
  } catch {
    return undefined;
  }
  const ok =
    r.format === FORMAT &&
    typeof r.key === 'string' &&
    typeof r.generation === 'number' &&
    Array.isArray(r.requested) &&
    Array.isArray(r.built) &&
    Array.isArray(r.read) &&
    r.read.every((e) => Array.isArray(e) && e.length === 3);
  return ok ? (r as Record_) : undefined;
}
