import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AppError, isAppError, isErrno } from '../core/index.js';
import { compareVersions } from '../version/index.js';
import type { RecipeCache } from './cache.js';
import { parseRecipe } from './parse.js';
import type { Recipe } from './types.js';

/** Where recipes come from, as the resolver sees it: candidates of one name, newest first. */
export interface RecipeIndex {
  candidates(name: string): readonly Recipe[];
  /** Every package name the trees know, for suggestions in errors. */
  names(): readonly string[];
}

/** Told of each directory before it is listed and each file before it is read (see platform's Witness). */
export interface ReadObserver {
  note(path: string): void;
}

export interface PortsIndexOptions {
  /** Parsed recipes of earlier commands, by content. */
  readonly cache?: RecipeCache;
  readonly observer?: ReadObserver;
}

/**
 * Layered ports trees: `<tree>/<name>/<version>.toml`. For one name and version the first tree wins, like
 * overlays; versions from all trees are candidates. Reads lazily and caches: resolving touches few names.
 */
export class PortsIndex implements RecipeIndex {
  readonly dirs: readonly string[];
  private readonly cache = new Map<string, readonly Recipe[]>();
  private readonly parsed: RecipeCache | undefined;
  private readonly observer: ReadObserver | undefined;

  constructor(dirs: readonly string[], opts: PortsIndexOptions = {}) {
    this.dirs = dirs;
    this.parsed = opts.cache;
    this.observer = opts.observer;
  }

  candidates(name: string): readonly Recipe[] {
    const hit = this.cache.get(name);
    if (hit !== undefined) return hit;
    const byVersion = new Map<string, Recipe>();
    for (const dir of this.dirs) {
      this.observer?.note(join(dir, name));
      for (const file of listToml(join(dir, name))) {
        const version = file.slice(0, -'.toml'.length);
        if (byVersion.has(version)) continue;
        const path = join(dir, name, file);
        this.observer?.note(path);
        const text = readFileSync(path, 'utf8');
        const parse = () => parseRecipe(text, path, { name, version });
        byVersion.set(version, this.parsed?.recipe(text, path, { name, version }, parse) ?? parse());
      }
    }
    const list = [...byVersion.values()].sort((a, b) => compareVersions(b.version, a.version));
    this.cache.set(name, list);
    return list;
  }

  names(): readonly string[] {
    const all = new Set<string>();
    for (const dir of this.dirs) {
      this.observer?.note(dir);
      for (const n of listDirs(dir)) all.add(n);
    }
    return [...all].sort();
  }
}

export interface CheckResult {
  readonly checked: number;
  readonly errors: readonly AppError[];
}

/** Validate every recipe under the given trees (or single recipe files), collecting all errors. */
export function checkRecipes(paths: readonly string[]): CheckResult {
  let checked = 0;
  const errors: AppError[] = [];
  const visit = (file: string, name: string | undefined, version: string | undefined) => {
    checked++;
    try {
      parseRecipe(readFileSync(file, 'utf8'), file, name && version ? { name, version } : undefined);
    } catch (e) {
      if (!isAppError(e)) throw e;
      errors.push(e);
    }
  };
  for (const p of paths) {
    if (p.endsWith('.toml')) {
      const parts = p.split('/');
      visit(p, parts[parts.length - 2], parts[parts.length - 1]?.slice(0, -5));
      continue;
    }
    if (!isDir(p)) {
      errors.push(new AppError('E_USAGE', `${p} is neither a ports tree nor a .toml recipe`));
      continue;
    }
    for (const name of listDirs(p))
      for (const f of listToml(join(p, name))) visit(join(p, name, f), name, f.slice(0, -5));
  }
  return { checked, errors };
}

function listToml(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith('.toml'))
      .sort();
  } catch (e) {
    if (isErrno(e, 'ENOENT') || isErrno(e, 'ENOTDIR')) return [];
    throw e;
  }
}

function listDirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
      .map((d) => d.name)
      .sort();
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return [];
    throw e;
  }
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
