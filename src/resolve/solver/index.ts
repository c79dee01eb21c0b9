import { Cdcl } from './cdcl.js';
import { explain, type Explanation } from './explain.js';
import type { Candidate, CandidateSource, SolveRequest } from './types.js';

export {
  renderExplanation,
  type Cause,
  type Explanation,
  type Fact,
  type Hint,
  type Incompatibility,
  type PackageRef,
  type RenderOptions,
  type Step,
} from './explain.js';
export { termMatches } from './pool.js';
export type {
  Candidate,
  CandidateSource,
  Origin,
  Provision,
  Requirement,
  SolveRequest,
  Term,
} from './types.js';

export type SolveResult =
  | { readonly kind: 'sat'; readonly chosen: readonly Candidate[]; readonly stats: SolveStats }
  | { readonly kind: 'unsat'; readonly explanation: Explanation; readonly stats: SolveStats };

export interface SolveStats {
  /** Candidates the search reached (given ids); the rest of the source was never asked for. */
  readonly candidatesLoaded: number;
  /** Problem clauses generated (requirements, dependencies, conflicts, one-version pairs). */
  readonly clauses: number;
  readonly learned: number;
  readonly decisions: number;
  readonly conflicts: number;
  /** Wall time of the search, including loading candidates from the source, in milliseconds. */
  readonly ms: number;
}

/**
 * Picks candidates that meet every requirement of `request` and, transitively, of everything picked: at most one
 * version per name:slot, no two picked candidates in conflict, and nothing that no requirement reaches. Prefers,
 * for each requirement in turn: a preferred version (`request.preferred`), then the first alternative written
 * that has a candidate, newest first, then providers of a virtual name by provider name. Deterministic: the same
 * source and request give the same answer. When there is none, the result carries a derivation of why.
 */
export function solve(source: CandidateSource, request: SolveRequest): SolveResult {
  const start = performance.now();
  const solver = new Cdcl(source, request.preferred);
  const ok = solver.run(request.requires);
  const chosen = ok ? solver.solution() : [];
  const explanation = ok ? undefined : explain(solver);
  const stats: SolveStats = {
    candidatesLoaded: solver.pool.count,
    clauses: solver.problemClauses,
    learned: solver.learnedClauses,
    decisions: solver.decisions,
    conflicts: solver.conflicts,
    ms: performance.now() - start,
  };
  return explanation === undefined ? { kind: 'sat', chosen, stats } : { kind: 'unsat', explanation, stats };
}
