import type { Sha256 } from '../core/index.js';
import type { Version } from '../version/index.js';
import type { DepSpec } from './depspec.js';

export type BuildSystem = 'autotools' | 'cmake' | 'make' | 'script';
export const buildSystems: readonly BuildSystem[] = ['autotools', 'cmake', 'make', 'script'];

export type Source =
  | { readonly kind: 'url'; readonly url: string; readonly sha256: Sha256; readonly fileName: string }
  /** Relative to the recipe's directory; a file or a directory tree. The hash is computed at fetch time. */
  | { readonly kind: 'path'; readonly path: string; readonly sha256?: Sha256 };

export interface OptionDecl {
  readonly default: boolean;
  readonly summary: string;
}

/** A string that applies only when a build option is on (`x if ssl`) or off (`x if !ssl`). */
export interface Conditional {
  readonly value: string;
  readonly condition?: { readonly option: string; readonly negated: boolean };
}

export interface Recipe {
  readonly name: string;
  readonly version: Version;
  readonly slot: string;
  readonly summary: string;
  readonly license: string;
  readonly homepage: string;
  readonly sources: readonly Source[];
  readonly options: Readonly<Record<string, OptionDecl>>;
  readonly depends: {
    readonly build: readonly DepSpec[];
    readonly run: readonly DepSpec[];
    readonly conflicts: readonly DepSpec[];
    readonly provides: readonly string[];
  };
  readonly build: {
    readonly system: BuildSystem;
    readonly configureArgs: readonly Conditional[];
    readonly env: Readonly<Record<string, string>>;
    readonly script?: string;
  };
  readonly audit: { readonly names: readonly string[]; readonly cpe?: string };
  /** Where it was read from, for error messages and `path` sources. */
  readonly file: string;
  /** sha256 of the recipe file's bytes: an input of the store path hash. */
  readonly recipeHash: Sha256;
  /** Line of each dependency string, for explanations that point at the source. */
  readonly lines: Readonly<Record<string, number>>;
}

/** Options of one package instance: every declared option, on or off. */
export type OptionSet = Readonly<Record<string, boolean>>;

export function defaultOptions(recipe: Recipe): OptionSet {
  return Object.fromEntries(Object.entries(recipe.options).map(([k, o]) => [k, o.default]));
}

export function conditionHolds(c: Conditional['condition'], options: OptionSet): boolean {
  if (c === undefined) return true;
  return (options[c.option] ?? false) !== c.negated;
}
