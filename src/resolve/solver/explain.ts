import { formatRange } from '../../version/index.js';
import type { Cdcl } from './cdcl.js';
import type { Candidate, Origin, Requirement, Term } from './types.js';

/**
 * Why there is no solution, as data: numbered steps, each concluding an incompatibility from facts (requirements,
 * dependencies, conflicts, what is available) and earlier steps. The last step concludes the empty
 * incompatibility: the request itself cannot be resolved. `renderExplanation` turns it into prose.
 */
export interface Explanation {
  readonly steps: readonly Step[];
  readonly hint: Hint;
}

/** A candidate as explanations name it; `showSlot` when its name comes in several slots (or a slot was asked). */
export interface PackageRef {
  readonly name: string;
  readonly slot: string;
  readonly version: string;
  readonly showSlot: boolean;
}

/** Something true of the input, quoted as given. */
export type Fact =
  | { readonly kind: 'requires'; readonly requirement: string; readonly origin?: Origin }
  | {
      readonly kind: 'depends';
      readonly package: PackageRef;
      readonly requirement: string;
      readonly origin?: Origin;
    }
  | {
      readonly kind: 'unavailable';
      /** The term that matched nothing, e.g. `pcre2 >= 10.40`. */
      readonly term: string;
      readonly name: string;
      readonly slot?: string;
      /** Every candidate named `name`, in any slot; and every candidate providing it. */
      readonly available: readonly PackageRef[];
      readonly providers: readonly PackageRef[];
      /** The requirement the term belongs to, for the hint. */
      readonly requirement: string;
      readonly origin?: Origin;
    }
  | {
      readonly kind: 'conflicts';
      readonly package: PackageRef;
      readonly conflict: string;
      readonly other: PackageRef;
      readonly origin?: Origin;
    }
  | {
      readonly kind: 'one-version';
      readonly name: string;
      readonly slot: string;
      readonly showSlot: boolean;
    };

/**
 * "Not all of `installed` together, unless one of `alternatives` too." Both empty: nothing can be installed,
 * the request fails. Only `alternatives`: the request needs one of them.
 */
export interface Incompatibility {
  readonly installed: readonly PackageRef[];
  readonly alternatives: readonly PackageRef[];
}

export type Cause =
  { readonly kind: 'fact'; readonly fact: Fact } | { readonly kind: 'step'; readonly step: number };

export interface Step {
  readonly because: readonly Cause[];
  readonly therefore: Incompatibility;
}

/** The likeliest fix, from the facts the derivation used (first match: missing, unavailable, conflict, version). */
export type Hint =
  | {
      readonly kind: 'missing';
      readonly name: string;
      readonly requirement: string;
      readonly origin?: Origin;
    }
  | {
      readonly kind: 'relax';
      /** `name` or `name:slot`, as the requirement asked. */
      readonly name: string;
      readonly requirement: string;
      readonly origin?: Origin;
      readonly available: readonly PackageRef[];
    }
  | { readonly kind: 'conflict'; readonly package: PackageRef; readonly other: PackageRef }
  | { readonly kind: 'one-version'; readonly name: string }
  | { readonly kind: 'general' };

/** Sentences with more causes than this are split, so a reader never holds more than a few facts at once. */
const MAX_CAUSES = 4;

/** Builds the explanation from an unsatisfiable run's refutation (the solver's proof of the empty clause). */
export function explain(solver: Cdcl): Explanation {
  const proof = solver.refutation;
  if (proof === undefined) throw new Error('Assertion failed: explain() needs an unsatisfiable run');
  const b = new Builder(solver);
  b.chain(proof.ante, proof.pivots);
  return { steps: b.steps, hint: chooseHint(b.steps) };
}

class Builder {
  readonly steps: Step[] = [];
  private readonly memo = new Map<number, Cause>();
  /** The clause id of each requirement of the request, to cite them in the order written. */
  private readonly order = new Map<Fact, number>();
  private readonly s: Cdcl;

  constructor(s: Cdcl) {
    this.s = s;
  }

  /** Replays a trivial resolution (`ante[0]` resolved with each next clause on `pivots[k - 1]`) as steps. */
  chain(ante: readonly number[], pivots: readonly number[]): number {
    const first = ante[0] ?? 0;
    const cur = new Map<number, number>();
    for (const l of this.s.clauseLits(first)) cur.set(l >> 1, l);
    let causes: Cause[] = [this.causeOf(first)];
    if (ante.length === 1) {
      const only = causes[0];
      if (only?.kind === 'step') return only.step;
      return this.push({ because: causes, therefore: this.incompatibility(cur.values()) });
    }
    let last = -1;
    for (let k = 1; k < ante.length; k++) {
      const c = ante[k] ?? 0;
      causes.push(this.causeOf(c));
      const pivot = pivots[k - 1] ?? 0;
      cur.delete(pivot);
      for (const l of this.s.clauseLits(c)) if (l >> 1 !== pivot) cur.set(l >> 1, l);
      const end = k === ante.length - 1;
      if (end || causes.length >= MAX_CAUSES || (readable(cur) && !this.defer(causes, ante[k + 1]))) {
        last = this.push({ because: causes, therefore: this.incompatibility(cur.values()) });
        causes = [{ kind: 'step', step: last }];
      }
    }
    return last;
  }

  /**
   * Whether to hold a readable conclusion back and fold it into the next sentence: after "only one version of X"
   * and a single other fact (the sentence would name one side of the clash only), and between requirements of
   * the request (so "requires a and b" is one phrase).
   */
  private defer(causes: readonly Cause[], next: number | undefined): boolean {
    if (causes.length === 2 && causes.some((c) => c.kind === 'fact' && c.fact.kind === 'one-version'))
      return true;
    const added = causes[causes.length - 1];
    if (next === undefined || added?.kind !== 'fact' || added.fact.kind !== 'requires') return false;
    const after = this.causeOf(next);
    return after.kind === 'fact' && after.fact.kind === 'requires';
  }

  /**
   * Adds a step, its causes in reading order: the step just before it first (so it reads "And because …"), then
   * the request's requirements in the order written, then other facts, then earlier steps.
   */
  private push(step: Step): number {
    const prev = this.steps.length - 1;
    const rank = (c: Cause): number => {
      if (c.kind === 'step') return c.step === prev ? -1 : 3;
      return c.fact.kind === 'requires' ? 0 : c.fact.kind === 'one-version' ? 2 : 1;
    };
    const because = step.because
      .map((c, i) => ({ c, i }))
      .sort((a, b) => {
        const d = rank(a.c) - rank(b.c);
        if (d !== 0) return d;
        if (a.c.kind === 'fact' && b.c.kind === 'fact' && a.c.fact.kind === 'requires')
          return (this.order.get(a.c.fact) ?? 0) - (this.order.get(b.c.fact) ?? 0);
        if (a.c.kind === 'step' && b.c.kind === 'step') return a.c.step - b.c.step;
        return a.i - b.i;
      })
      .map((x) => x.c);
    this.steps.push({ because, therefore: step.therefore });
    return this.steps.length - 1;
  }

  private causeOf(c: number): Cause {
    const known = this.memo.get(c);
    if (known !== undefined) return known;
    let cause: Cause;
    const kind = this.s.clauseKind(c);
    const lits = this.s.clauseLits(c);
    const owner = this.s.clauseOwner(c);
    const data = this.s.clauseData(c);
    if (kind === 'learned') {
      const proof = this.s.clauseProof(c);
      if (proof === undefined) throw new Error('Assertion failed: a learned clause without its proof');
      cause =
        proof.ante.length === 1
          ? this.causeOf(proof.ante[0] ?? 0)
          : { kind: 'step', step: this.chain(proof.ante, proof.pivots) };
    } else if ((kind === 'root' || kind === 'dep') && lits.length === (owner === 0 ? 0 : 1)) {
      // Nothing matches the requirement: one step from the requirement and what is available.
      const req = data as Requirement;
      const because: Cause[] = [{ kind: 'fact', fact: this.requirementFact(owner, req) }];
      for (const t of req.alternatives) because.push({ kind: 'fact', fact: this.unavailable(t, req) });
      cause = { kind: 'step', step: this.push({ because, therefore: this.incompatibility(lits) }) };
    } else if (kind === 'root' || kind === 'dep') {
      const fact = this.requirementFact(owner, data as Requirement);
      this.order.set(fact, c);
      cause = { kind: 'fact', fact };
    } else if (kind === 'one-version') {
      const c0 = this.s.pool.candidate(owner);
      cause = {
        kind: 'fact',
        fact: {
          kind: 'one-version',
          name: c0.name,
          slot: c0.slot,
          showSlot: this.s.pool.hasSeveralSlots(c0.name),
        },
      };
    } else {
      const other = lits.map((l) => l >> 1).find((v) => v !== owner) ?? owner;
      const term = data as Term;
      const cand = this.s.pool.candidate(owner);
      cause = {
        kind: 'fact',
        fact: withOrigin(
          { kind: 'conflicts', package: this.ref(owner), conflict: formatTerm(term), other: this.ref(other) },
          cand.origin,
        ),
      };
    }
    this.memo.set(c, cause);
    return cause;
  }

  private requirementFact(owner: number, req: Requirement): Fact {
    if (owner === 0) return withOrigin({ kind: 'requires', requirement: req.text }, req.origin);
    return withOrigin({ kind: 'depends', package: this.ref(owner), requirement: req.text }, req.origin);
  }

  private unavailable(t: Term, req: Requirement): Fact {
    const pool = this.s.pool;
    const available = pool.named(t.name).map((v) => this.ref(v, t.slot !== undefined));
    const providers = pool.source.providersOf(t.name).map((c) => refOf(c, pool.hasSeveralSlots(c.name)));
    const fact = {
      kind: 'unavailable',
      term: formatTerm(t),
      name: t.name,
      available,
      providers,
      requirement: req.text,
    } as const;
    return withOrigin(t.slot === undefined ? fact : { ...fact, slot: t.slot }, req.origin);
  }

  private ref(v: number, forceSlot = false): PackageRef {
    const c = this.s.pool.candidate(v);
    return refOf(c, forceSlot || this.s.pool.hasSeveralSlots(c.name));
  }

  private incompatibility(lits: Iterable<number>): Incompatibility {
    const installed: PackageRef[] = [];
    const alternatives: PackageRef[] = [];
    for (const l of lits) ((l & 1) === 1 ? installed : alternatives).push(this.ref(l >> 1));
    return { installed, alternatives };
  }
}

/** A resolvent worth a sentence of its own: "X cannot be used", "X and Y cannot be installed together". */
function readable(cur: ReadonlyMap<number, number>): boolean {
  if (cur.size > 2) return false;
  for (const l of cur.values()) if ((l & 1) === 0) return false;
  return true;
}

function refOf(c: Candidate, showSlot: boolean): PackageRef {
  return { name: c.name, slot: c.slot, version: c.version, showSlot };
}

function withOrigin<T extends object>(fact: T, origin: Origin | undefined): T & { origin?: Origin } {
  return origin === undefined ? fact : { ...fact, origin };
}

function formatTerm(t: Term): string {
  const head = t.slot === undefined ? t.name : `${t.name}:${t.slot}`;
  return t.range.length === 0 ? head : `${head} ${formatRange(t.range)}`;
}

function chooseHint(steps: readonly Step[]): Hint {
  const facts: Fact[] = [];
  for (const s of steps) for (const c of s.because) if (c.kind === 'fact') facts.push(c.fact);
  for (const f of facts)
    if (f.kind === 'unavailable' && f.available.length === 0 && f.providers.length === 0)
      return withOrigin({ kind: 'missing', name: f.name, requirement: f.requirement }, f.origin);
  for (const f of facts)
    if (f.kind === 'unavailable') {
      const name = f.slot === undefined ? f.name : `${f.name}:${f.slot}`;
      const available = [...f.available, ...f.providers];
      return withOrigin({ kind: 'relax', name, requirement: f.requirement, available }, f.origin);
    }
  for (const f of facts)
    if (f.kind === 'conflicts') return { kind: 'conflict', package: f.package, other: f.other };
  for (const f of facts) if (f.kind === 'one-version') return { kind: 'one-version', name: f.name };
  return { kind: 'general' };
}

// ---- Rendering ----

export interface RenderOptions {
  /** How the request is named: "profile web"; default "the request". */
  readonly rootName?: string;
}

/**
 * The explanation as prose, one sentence per step ("Because …, … cannot be used."), a step that follows from the
 * one before it chained with "And because …". A step cited later out of order is labelled "(n)" and cited as
 * "… (n)". Ends with a "hint: …" line.
 */
export function renderExplanation(e: Explanation, opts: RenderOptions = {}): string {
  const root = opts.rootName ?? 'the request';
  const labels = new Map<number, number>();
  e.steps.forEach((step, i) => {
    step.because.forEach((c, j) => {
      if (c.kind === 'step' && !(j === 0 && c.step === i - 1) && !labels.has(c.step))
        labels.set(c.step, labels.size + 1);
    });
  });
  // Labels in the order the steps appear.
  const order = [...labels.keys()].sort((a, b) => a - b);
  order.forEach((s, i) => labels.set(s, i + 1));
  const lines = e.steps.map((step, i) => {
    const first = step.because[0];
    const chained = first?.kind === 'step' && first.step === i - 1;
    const rest: string[] = [];
    let required: string[] = [];
    const flush = (): void => {
      if (required.length > 0) rest.push(`${root} requires ${joinAnd(required)}`);
      required = [];
    };
    // One conflict term met by several providers is one phrase: "…, which a 1 and b 2 provide".
    const providedBy = new Map<string, { at: number; fact: ConflictFact; others: PackageRef[] }>();
    for (const c of chained ? step.because.slice(1) : step.because) {
      if (c.kind === 'fact' && c.fact.kind === 'requires') {
        required.push(`${c.fact.requirement}${at(c.fact.origin)}`);
        continue;
      }
      flush();
      if (c.kind === 'fact' && c.fact.kind === 'conflicts' && !namesOther(c.fact)) {
        const key = `${pkg(c.fact.package)}\u0000${c.fact.conflict}`;
        const known = providedBy.get(key);
        if (known !== undefined) known.others.push(c.fact.other);
        else {
          providedBy.set(key, { at: rest.length, fact: c.fact, others: [c.fact.other] });
          rest.push('');
        }
        continue;
      }
      rest.push(
        c.kind === 'fact'
          ? renderFact(c.fact, root)
          : `${renderIncompatibility(e.steps[c.step]?.therefore ?? empty, root)} (${labels.get(c.step) ?? '?'})`,
      );
    }
    flush();
    for (const { at: i, fact, others } of providedBy.values())
      rest[i] =
        `${pkg(fact.package)} conflicts with ${fact.conflict}${at(fact.origin)}, which ` +
        `${joinAnd(others.map(pkg))} ${others.length === 1 ? 'provides' : 'provide'}`;
    const conclusion = renderIncompatibility(step.therefore, root);
    const head =
      rest.length === 0
        ? `So ${conclusion}`
        : `${chained ? 'And because' : 'Because'} ${joinAnd(rest)}, ${conclusion}`;
    const label = labels.get(i);
    return label === undefined ? `${head}.` : `${head}. (${label})`;
  });
  lines.push(`hint: ${renderHint(e.hint, root)}`);
  return lines.join('\n');
}

const empty: Incompatibility = { installed: [], alternatives: [] };

type ConflictFact = Extract<Fact, { kind: 'conflicts' }>;

/** True when the conflict term names the other package itself (not a virtual name it provides). */
function namesOther(f: ConflictFact): boolean {
  const o = f.other.name;
  return f.conflict === o || f.conflict.startsWith(`${o} `) || f.conflict.startsWith(`${o}:`);
}

function renderFact(f: Fact, root: string): string {
  switch (f.kind) {
    case 'requires':
      return `${root} requires ${f.requirement}${at(f.origin)}`;
    case 'depends':
      return `${pkg(f.package)} depends on ${f.requirement}${at(f.origin)}`;
    case 'unavailable':
      return renderUnavailable(f);
    case 'conflicts':
      return namesOther(f)
        ? `${pkg(f.package)} conflicts with ${f.conflict}${at(f.origin)}`
        : `${pkg(f.package)} conflicts with ${f.conflict}${at(f.origin)}, which ${pkg(f.other)} provides`;
    case 'one-version':
      return `only one version of ${f.showSlot ? `${f.name}:${f.slot}` : f.name} can be installed at a time`;
  }
}

function renderUnavailable(f: Extract<Fact, { kind: 'unavailable' }>): string {
  if (f.available.length === 0 && f.providers.length === 0)
    return `no package named or providing ${f.name} is available`;
  const parts: string[] = [];
  if (f.available.length > 0)
    parts.push(`only ${listRefs(f.available)} ${f.available.length === 1 ? 'is' : 'are'} available`);
  if (f.providers.length > 0)
    parts.push(
      `${f.available.length === 0 ? 'only ' : 'only '}${listRefs(f.providers)} ${f.providers.length === 1 ? 'provides' : 'provide'} ${f.name}`,
    );
  return parts.join(' and ');
}

/** "pcre2 10.39 and 10.38", "python:3.11 3.11.2 and python:2.7 2.7.18"; at most five, then "and n more". */
function listRefs(refs: readonly PackageRef[]): string {
  const shown = refs.slice(0, 5);
  const words: string[] = [];
  let prev = '';
  for (const r of shown) {
    const head = r.showSlot ? `${r.name}:${r.slot}` : r.name;
    words.push(head === prev ? r.version : `${head} ${r.version}`);
    prev = head;
  }
  if (refs.length > shown.length) words.push(`${refs.length - shown.length} more`);
  return joinAnd(words);
}

function renderIncompatibility(inc: Incompatibility, root: string): string {
  const { installed, alternatives } = inc;
  if (installed.length === 0 && alternatives.length === 0) return `${root} cannot be resolved`;
  const either = joinOr(alternatives.map(pkg));
  if (installed.length === 0) return `${root} requires ${either}`;
  const who = joinAnd(installed.map(pkg));
  if (alternatives.length === 0)
    return installed.length === 1 ? `${who} cannot be used` : `${who} cannot be installed together`;
  return installed.length === 1 ? `${who} requires ${either}` : `${who} together require ${either}`;
}

function renderHint(h: Hint, root: string): string {
  switch (h.kind) {
    case 'missing':
      return `check the spelling of "${h.requirement}"${at(h.origin)}, or add a package named or providing ${h.name}`;
    case 'relax': {
      const only = h.available.length === 1 && h.available[0] !== undefined ? pkg(h.available[0]) : undefined;
      return `relax "${h.requirement}"${at(h.origin)} to allow ${only ?? 'an available version'}, or add a version of ${h.name} that satisfies it`;
    }
    case 'conflict':
      return `${pkg(h.package)} and ${pkg(h.other)} conflict: keep only one of them in ${root} (or in the requirements that pull them in)`;
    case 'one-version':
      return `no single version of ${h.name} satisfies every requirement on it: relax one of them`;
    case 'general':
      return `relax one of the requirements above`;
  }
}

function pkg(r: PackageRef): string {
  return r.showSlot ? `${r.name}:${r.slot} ${r.version}` : `${r.name} ${r.version}`;
}

function at(o: Origin | undefined): string {
  if (o === undefined) return '';
  return o.line === undefined ? ` (${o.file})` : ` (${o.file}:${o.line})`;
}

function joinAnd(xs: readonly string[]): string {
  return join(xs, 'and');
}

function joinOr(xs: readonly string[]): string {
  return join(xs, 'or');
}

/** "a", "a and b", "a, b and c"; with a comma before the last word when a part has the word itself. */
function join(xs: readonly string[], word: string): string {
  if (xs.length <= 1) return xs[0] ?? '';
  const serial = xs.some((x) => x.includes(` ${word} `)) ? ',' : '';
  return `${xs.slice(0, -1).join(', ')}${serial} ${word} ${xs[xs.length - 1] ?? ''}`;
}
