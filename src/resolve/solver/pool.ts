import { compareVersions, satisfies, type VersionRange } from '../../version/index.js';
import type { Candidate, CandidateSource, Provision, Term } from './types.js';

/**
 * Interns candidates as integer variables `1..count`, loading them from the source one name at a time and only
 * when the search reaches that name. A name is always loaded whole (every slot and version), so the
 * "one version per name:slot" group of a candidate is complete from the moment the candidate has an id.
 *
 * Term lookups (`matches`) are cached per name and range: the same `libc6 >= 2.36` written by a thousand
 * packages is resolved to candidate ids once.
 */
export class Pool {
  readonly source: CandidateSource;
  /** `candidates[v - 1]` is variable `v`. */
  private readonly candidates: Candidate[] = [];
  /** Group (name:slot) index of each variable, `groupOf[v - 1]`. */
  private readonly groupOf: number[] = [];
  private readonly groups: number[][] = [];
  private readonly ids = new Map<Candidate, number>();
  private readonly byName = new Map<string, readonly number[]>();
  /** Per name, the terms on it looked up so far (a name sees few distinct ranges, so a list beats string keys). */
  private readonly termCache = new Map<string, TermEntry[]>();
  /** Past `MAX_LISTED` ranges on one name, lookups go through a string key instead. */
  private readonly termKeyCache = new Map<string, readonly number[]>();
  private readonly severalSlots = new Set<string>();

  constructor(source: CandidateSource) {
    this.source = source;
  }

  /** How many candidates have ids. */
  get count(): number {
    return this.candidates.length;
  }

  candidate(v: number): Candidate {
    const c = this.candidates[v - 1];
    if (c === undefined) throw new Error(`Assertion failed: no candidate with id ${v}`);
    return c;
  }

  /** The variables of `v`'s name:slot, `v` included (at most one of the group may be installed). */
  groupMembers(v: number): readonly number[] {
    return this.groups[this.groupOf[v - 1] ?? -1] ?? [];
  }

  /** True when candidates named `name` come in more than one slot, so a reader needs the slot to tell them apart. */
  hasSeveralSlots(name: string): boolean {
    return this.severalSlots.has(name);
  }

  /**
   * The ids of the candidates named `name`, newest first (ties keep the source's order), loading them on first
   * use. Candidates equal in name, slot and version are one candidate (the first the source gave).
   */
  named(name: string): readonly number[] {
    const known = this.byName.get(name);
    if (known !== undefined) return known;
    const list: number[] = [];
    this.byName.set(name, list);
    const given = this.source.byName(name);
    const kept: Candidate[] = [];
    const seen = new Set<string>();
    for (const c of given) {
      if (c.name !== name) continue;
      const key = `${c.slot}\u0000${c.version}`;
      if (seen.has(key)) continue;
      seen.add(key);
      kept.push(c);
    }
    if (kept.length > 1) {
      const order = kept.map((c, i) => ({ c, i }));
      order.sort((a, b) => compareVersions(b.c.version, a.c.version) || a.i - b.i);
      for (let i = 0; i < order.length; i++) kept[i] = (order[i] as { c: Candidate }).c;
    }
    // Groups (name:slot) are formed here, once per name, since a name is always loaded whole.
    const groupStart = this.groups.length;
    const slots: string[] = [];
    for (const c of kept) {
      let g = slots.indexOf(c.slot);
      if (g < 0) {
        g = slots.length;
        slots.push(c.slot);
        this.groups.push([]);
      }
      this.candidates.push(c);
      const v = this.candidates.length;
      this.ids.set(c, v);
      this.groupOf.push(groupStart + g);
      this.groups[groupStart + g]?.push(v);
      list.push(v);
    }
    if (slots.length > 1) this.severalSlots.add(name);
    return list;
  }

  /**
   * The ids of every candidate matching `term`, in preference order: first those named `term.name` (newest
   * first), then providers of the virtual name, ordered by their own name (code-unit order), then newest first.
   * A provision with a version must satisfy the range; one without a version matches only the empty range.
   */
  matches(term: Term): readonly number[] {
    let cached = this.termCache.get(term.name);
    if (cached === undefined) this.termCache.set(term.name, (cached = []));
    for (const e of cached) if (e.slot === term.slot && sameRange(e.range, term.range)) return e.ids;
    const key = cached.length >= MAX_LISTED ? termKey(term) : undefined;
    const keyed = key === undefined ? undefined : this.termKeyCache.get(key);
    if (keyed !== undefined) return keyed;
    const out: number[] = [];
    for (const v of this.named(term.name)) {
      const c = this.candidate(v);
      if ((term.slot === undefined || c.slot === term.slot) && satisfies(c.version, term.range)) out.push(v);
    }
    const providers = this.source.providersOf(term.name);
    if (providers.length > 0) {
      const found: { v: number; c: Candidate }[] = [];
      for (const c of providers) {
        if (c.name === term.name) continue;
        if (term.slot !== undefined && c.slot !== term.slot) continue;
        if (!providesMatching(c.provides, term)) continue;
        found.push({ v: this.idOf(c), c });
      }
      if (found.length > 1)
        found.sort(
          (a, b) =>
            (a.c.name < b.c.name ? -1 : a.c.name > b.c.name ? 1 : 0) ||
            compareVersions(b.c.version, a.c.version),
        );
      for (const f of found) if (!out.includes(f.v)) out.push(f.v);
    }
    if (key === undefined) cached.push({ slot: term.slot, range: term.range, ids: out });
    else this.termKeyCache.set(key, out);
    return out;
  }

  /**
   * The id of a candidate the source handed out as a provider: the same object, or the one of its name with the
   * same slot and version. One `byName` did not list (an inconsistent source) joins its name's list and group.
   */
  private idOf(c: Candidate): number {
    const known = this.ids.get(c);
    if (known !== undefined) return known;
    const list = this.named(c.name);
    for (const v of list) {
      const k = this.candidate(v);
      if (k.slot === c.slot && k.version === c.version) return v;
    }
    this.candidates.push(c);
    const v = this.candidates.length;
    this.ids.set(c, v);
    const mate = list.find((u) => this.candidate(u).slot === c.slot);
    let g = mate === undefined ? -1 : (this.groupOf[mate - 1] ?? -1);
    if (g < 0) {
      g = this.groups.length;
      this.groups.push([]);
      if (list.length > 0) this.severalSlots.add(c.name);
    }
    this.groupOf.push(g);
    this.groups[g]?.push(v);
    (list as number[]).push(v);
    return v;
  }
}

const MAX_LISTED = 16;

function termKey(t: Term): string {
  let key = t.slot === undefined ? `${t.name}\u0000` : `${t.name}\u0000:${t.slot}`;
  for (const c of t.range) key += `\u0000${c.op}${c.version}`;
  return key;
}

interface TermEntry {
  readonly slot: string | undefined;
  readonly range: VersionRange;
  readonly ids: readonly number[];
}

function sameRange(a: VersionRange, b: VersionRange): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x?.op !== y?.op || x?.version !== y?.version) return false;
  }
  return true;
}

/** The rule `matches` applies, for one candidate: by its own name and version, or by what it provides. */
export function termMatches(term: Term, c: Candidate): boolean {
  if (term.slot !== undefined && c.slot !== term.slot) return false;
  if (c.name === term.name) return satisfies(c.version, term.range);
  return providesMatching(c.provides, term);
}

function providesMatching(provides: readonly Provision[], term: Term): boolean {
  for (const p of provides) {
    if (p.name !== term.name) continue;
    if (p.version === undefined ? term.range.length === 0 : satisfies(p.version, term.range)) return true;
  }
  return false;
}
