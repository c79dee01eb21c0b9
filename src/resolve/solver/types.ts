import type { VersionRange } from '../../version/index.js';

/**
 * The solver's input vocabulary. It knows nothing about recipes or Debian: adapters (the recipe index, the
 * benchmark's Debian `Packages` reader) turn their data into candidates, lazily, by name.
 */

/** Where a requirement was written, for explanations ("ports/nginx/1.24.toml:18"). */
export interface Origin {
  readonly file: string;
  readonly line?: number;
}

/** One alternative of a requirement: a name (package or virtual), optionally a slot, and a version range. */
export interface Term {
  readonly name: string;
  readonly slot?: string;
  readonly range: VersionRange;
}

/** A clause over candidates: at least one alternative must be installed (`a | b >= 2`). */
export interface Requirement {
  readonly alternatives: readonly Term[];
  /** As the user or recipe wrote it, for explanations. */
  readonly text: string;
  readonly origin?: Origin;
}

/** Something a candidate provides besides its own name (a virtual package), optionally at a version. */
export interface Provision {
  readonly name: string;
  readonly version?: string;
}

/** One installable version. `name:slot` is the unit of "one version at a time". */
export interface Candidate {
  readonly name: string;
  readonly slot: string;
  readonly version: string;
  /** Already filtered by the package's options: only the dependencies that apply. */
  readonly depends: readonly Requirement[];
  /** Any candidate matching one of these terms cannot be installed together with this one. */
  readonly conflicts: readonly Term[];
  readonly provides: readonly Provision[];
  readonly origin?: Origin;
}

/** Gives candidates by name, lazily: the solver asks only for names its search reaches. */
export interface CandidateSource {
  /** Candidates whose own name is `name`, in preference order (newest first, by convention). */
  byName(name: string): readonly Candidate[];
  /** Candidates that provide the virtual name `name` (not including those whose own name it is). */
  providersOf(name: string): readonly Candidate[];
}

export interface SolveRequest {
  readonly requires: readonly Requirement[];
  /** Versions to try first per `name:slot` (the lock, or what is installed when asked to keep it). */
  readonly preferred?: ReadonlyMap<string, string>;
}
