import { parseOp, satisfies, type Constraint, type Version } from '../../version/index.js';
import type { Candidate, CandidateSource, Origin, Provision, Requirement, Term } from './types.js';

/**
 * Small universes for the solver's tests, written the way recipes write dependencies:
 * `pkg('nginx 1.24', { depends: ['pcre2 >= 10.40', 'zlib | miniz'] })`.
 */

export interface PkgSpec {
  readonly depends?: readonly string[];
  readonly conflicts?: readonly string[];
  /** `name` or `name = version`. */
  readonly provides?: readonly string[];
}

/**
 * A candidate from `"name[:slot] version"`; its dependencies get origins `ports/<name>/<version>.toml:<10 + i>`,
 * the candidate itself `ports/<name>/<version>.toml:1`.
 */
export function pkg(head: string, spec: PkgSpec = {}): Candidate {
  const [id = '', version = ''] = head.split(' ');
  const [name = '', slot = '0'] = id.split(':');
  const file = `ports/${name}/${version}.toml`;
  return {
    name,
    slot,
    version,
    depends: (spec.depends ?? []).map((d, i) => requirement(d, { file, line: 10 + i })),
    conflicts: (spec.conflicts ?? []).map(parseTerm),
    provides: (spec.provides ?? []).map(parseProvision),
    origin: { file, line: 1 },
  };
}

/** Root requirements with origins `ferry.toml:<3 + i>`. */
export function requires(...texts: string[]): Requirement[] {
  return texts.map((t, i) => requirement(t, { file: 'ferry.toml', line: 3 + i }));
}

export function requirement(text: string, origin?: Origin): Requirement {
  const alternatives = text.split('|').map((s) => parseTerm(s.trim()));
  return origin === undefined ? { alternatives, text } : { alternatives, text, origin };
}

/** `name[:slot] [op version[, op version]…]`. */
export function parseTerm(text: string): Term {
  const m = /^([^\s:]+)(?::(\S+))?\s*(.*)$/.exec(text.trim());
  if (m === null) throw new Error(`bad term ${text}`);
  const [, name = '', slot, rest = ''] = m;
  const range: Constraint[] = [];
  for (const part of rest.split(',')) {
    const p = part.trim();
    if (p === '') continue;
    const [opText = '', version = ''] = p.split(/\s+/);
    const op = parseOp(opText);
    if (op === undefined) throw new Error(`bad operator in ${text}`);
    range.push({ op, version: version as Version });
  }
  return slot === undefined ? { name, range } : { name, slot, range };
}

function parseProvision(text: string): Provision {
  const [name = '', version] = text.split('=').map((s) => s.trim());
  return version === undefined ? { name } : { name, version };
}

/** A source over a fixed list, counting how often names are asked for (to check laziness). */
export class ListSource implements CandidateSource {
  readonly asked = new Set<string>();
  private readonly all: readonly Candidate[];

  constructor(all: readonly Candidate[]) {
    this.all = all;
  }

  private readonly named = new Map<string, Candidate[]>();
  private readonly providing = new Map<string, Candidate[]>();

  byName(name: string): readonly Candidate[] {
    this.asked.add(name);
    this.index();
    return this.named.get(name) ?? [];
  }

  providersOf(name: string): readonly Candidate[] {
    this.asked.add(name);
    this.index();
    return this.providing.get(name) ?? [];
  }

  private index(): void {
    if (this.named.size > 0 || this.all.length === 0) return;
    const add = (m: Map<string, Candidate[]>, k: string, c: Candidate): void => {
      const list = m.get(k);
      if (list === undefined) m.set(k, [c]);
      else if (!list.includes(c)) list.push(c);
    };
    for (const c of this.all) {
      add(this.named, c.name, c);
      for (const p of c.provides) if (p.name !== c.name) add(this.providing, p.name, c);
    }
  }
}

/** True when candidate `c` matches term `t` (by name and slot, or by what it provides). */
export function matchesTerm(c: Candidate, t: Term): boolean {
  if (c.name === t.name) return (t.slot === undefined || t.slot === c.slot) && satisfies(c.version, t.range);
  if (t.slot !== undefined && t.slot !== c.slot) return false;
  return c.provides.some(
    (p) =>
      p.name === t.name && (p.version === undefined ? t.range.length === 0 : satisfies(p.version, t.range)),
  );
}

/**
 * Checks a solution independently of the solver: every requirement of the request and of every chosen candidate
 * is met, no chosen candidate conflicts with another, and at most one version per name:slot. Returns the
 * problems found (empty when valid).
 */
export function verify(chosen: readonly Candidate[], roots: readonly Requirement[]): string[] {
  const problems: string[] = [];
  const met = (r: Requirement): boolean => r.alternatives.some((t) => chosen.some((c) => matchesTerm(c, t)));
  for (const r of roots) if (!met(r)) problems.push(`request: ${r.text} unmet`);
  const groups = new Set<string>();
  for (const c of chosen) {
    const g = `${c.name}:${c.slot}`;
    if (groups.has(g)) problems.push(`two versions of ${g}`);
    groups.add(g);
    for (const r of c.depends) if (!met(r)) problems.push(`${c.name} ${c.version}: ${r.text} unmet`);
    for (const t of c.conflicts)
      for (const o of chosen)
        if (o !== c && matchesTerm(o, t)) problems.push(`${c.name} ${c.version} conflicts with ${o.name}`);
  }
  return problems;
}
