import {
  conditionHolds,
  defaultOptions,
  type DepSpec,
  type OptionSet,
  type Recipe,
  type RecipeIndex,
} from '../recipe/index.js';
import type { Candidate, CandidateSource, Origin, Requirement, Term } from './solver/types.js';

/**
 * The recipe index seen as solver candidates. Options are fixed per package name before solving (manifest
 * overrides over recipe defaults), so option-conditional dependencies become plain ones or disappear here.
 * Build dependencies count as dependencies: a package cannot be built without them.
 */
export class RecipeCandidates implements CandidateSource {
  private readonly index: RecipeIndex;
  private readonly overrides: Readonly<Record<string, OptionSet>>;
  private readonly made = new Map<string, readonly Candidate[]>();
  private readonly recipes = new Map<Candidate, Recipe>();
  private providers: Map<string, Candidate[]> | undefined;

  private readonly showFile: (file: string) => string;

  constructor(
    index: RecipeIndex,
    overrides: Readonly<Record<string, OptionSet>> = {},
    showFile: (file: string) => string = (f) => f,
  ) {
    this.index = index;
    this.overrides = overrides;
    this.showFile = showFile;
  }

  optionsOf(r: Recipe): OptionSet {
    return { ...defaultOptions(r), ...(this.overrides[r.name] ?? {}) };
  }

  recipeOf(c: Candidate): Recipe | undefined {
    return this.recipes.get(c);
  }

  byName(name: string): readonly Candidate[] {
    const hit = this.made.get(name);
    if (hit !== undefined) return hit;
    const list = this.index.candidates(name).map((r) => this.toCandidate(r));
    this.made.set(name, list);
    return list;
  }

  /** Virtual names: every recipe's `provides`, indexed once on first use (recipe trees are small). */
  providersOf(name: string): readonly Candidate[] {
    if (this.providers === undefined) {
      this.providers = new Map();
      for (const n of this.index.names())
        for (const c of this.byName(n))
          for (const p of c.provides) this.providers.set(p.name, [...(this.providers.get(p.name) ?? []), c]);
    }
    return this.providers.get(name) ?? [];
  }

  private toCandidate(r: Recipe): Candidate {
    const options = this.optionsOf(r);
    const active = (list: readonly DepSpec[], kind: string) =>
      list
        .filter((d) => conditionHolds(d.condition, options))
        .map((d) => requirement(d, { file: this.showFile(r.file), line: r.lines[`${kind}:${d.text}`] }));
    const c: Candidate = {
      name: r.name,
      slot: r.slot,
      version: r.version,
      depends: [...active(r.depends.run, 'run'), ...active(r.depends.build, 'build')],
      conflicts: r.depends.conflicts
        .filter((d) => conditionHolds(d.condition, options))
        .flatMap((d) => d.alternatives.map(term)),
      provides: r.depends.provides.map((p) => {
        const [name = p, version] = p.split(/\s*=\s*/);
        return version === undefined ? { name: name.trim() } : { name: name.trim(), version: version.trim() };
      }),
      origin: { file: this.showFile(r.file) },
    };
    this.recipes.set(c, r);
    return c;
  }
}

export function term(a: DepSpec['alternatives'][number]): Term {
  return a.slot === undefined
    ? { name: a.name, range: a.range }
    : { name: a.name, slot: a.slot, range: a.range };
}

export function requirement(d: DepSpec, origin?: { file: string; line?: number | undefined }): Requirement {
  const o: Origin | undefined =
    origin === undefined
      ? undefined
      : origin.line === undefined
        ? { file: origin.file }
        : { file: origin.file, line: origin.line };
  return { alternatives: d.alternatives.map(term), text: d.text, ...(o === undefined ? {} : { origin: o }) };
}
