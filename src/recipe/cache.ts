import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { sha256Bytes, type Sha256 } from '../core/index.js';
import type { Recipe } from './types.js';

/**
 * The shape of a parsed recipe as this cache stores it. Bump it whenever parseRecipe's output changes, so no
 * entry of the old shape is read back; a unit test pins parseRecipe's output for a full recipe to this number.
 */
export const RECIPE_FORMAT = 1;

interface CacheFile {
  readonly format: number;
  readonly entries: Record<string, Recipe>;
}

/**
 * Parsed recipes by content: a command that reads the same recipes as the last one skips parsing and
 * validating them, most of a no-op `ferry install`'s time while the code is still cold. An entry's key is the
 * sha256 of the recipe's text with its path and expected name and version, so an edited recipe is a miss: no
 * timestamp is trusted. The cache is a single JSON file; a missing, unreadable or foreign one counts as empty.
 */
export class RecipeCache {
  private readonly file: string;
  private readonly old: Record<string, Recipe>;
  private readonly used = new Map<string, Recipe>();
  private dirty = false;

  private constructor(file: string, old: Record<string, Recipe>) {
    this.file = file;
    this.old = old;
  }

  static load(file: string): RecipeCache {
    try {
      const data = JSON.parse(readFileSync(file, 'utf8')) as Partial<CacheFile>;
      if (data.format === RECIPE_FORMAT && typeof data.entries === 'object' && data.entries !== null)
        return new RecipeCache(file, data.entries);
    } catch {
      // Missing or damaged: start empty; the next save replaces it.
    }
    return new RecipeCache(file, {});
  }

  /** The parsed recipe for this text at this place, from the cache or from `parse` (then remembered). */
  recipe(text: string, file: string, expect: { name: string; version: string }, parse: () => Recipe): Recipe {
    const key = cacheKey(text, file, expect);
    const hit = this.used.get(key) ?? revive(this.old[key]);
    if (hit !== undefined) {
      this.used.set(key, hit);
      return hit;
    }
    const recipe = parse();
    this.used.set(key, recipe);
    this.dirty = true;
    return recipe;
  }

  /**
   * Writes the cache when something was parsed, through a temporary file and a rename (a reader sees the old
   * file or the new one). Keeps this run's entries and, up to the same number again, older ones, so trees used
   * in turn stay cached while the file stays small. Only into an existing root: reading recipes creates none.
   */
  save(): void {
    if (!this.dirty || !existsSync(dirname(dirname(this.file)))) return;
    const entries: Record<string, Recipe> = Object.fromEntries(this.used);
    let room = Math.max(this.used.size, 256);
    for (const [k, v] of Object.entries(this.old)) {
      if (room <= 0) break;
      if (k in entries) continue;
      entries[k] = v;
      room--;
    }
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      const tmp = `${this.file}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify({ format: RECIPE_FORMAT, entries } satisfies CacheFile));
      renameSync(tmp, this.file);
      this.dirty = false;
    } catch {
      // A read-only root only costs the speed-up.
    }
  }
}

/** JSON gives plain objects; parseRecipe gives the user's key-value maps no prototype (a key may be anything). */
function revive(r: Recipe | undefined): Recipe | undefined {
  if (r === undefined) return undefined;
  const env = Object.assign(Object.create(null) as Record<string, string>, r.build.env);
  return { ...r, build: { ...r.build, env } };
}

function cacheKey(text: string, file: string, expect: { name: string; version: string }): Sha256 {
  return sha256Bytes(`${RECIPE_FORMAT}\0${file}\0${expect.name}\0${expect.version}\0${text}`);
}
