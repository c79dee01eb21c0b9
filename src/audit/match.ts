import { evaluateOsv } from './osv.js';
import { matchPattern, patternNames } from './pattern.js';
import {
  severities,
  type Advisory,
  type AffectedRule,
  type AuditPackage,
  type Finding,
  type Ignore,
  type Severity,
} from './types.js';

interface Entry {
  readonly advisory: Advisory;
  readonly rule: AffectedRule;
}

/** Advisories indexed for lookup by package name (and CPE vendor:product); built once per audit. */
export interface AdvisoryIndex {
  readonly byName: ReadonlyMap<string, readonly Entry[]>;
  readonly byCpe: ReadonlyMap<string, readonly Entry[]>;
  /** pkgsrc patterns whose name has wildcards: tried on every package. */
  readonly anyName: readonly Entry[];
  readonly withdrawn: number;
  readonly total: number;
}

const cpeKey = (cpe: string): string | undefined => {
  const f = cpe.toLowerCase().split(':');
  return f.length >= 5 && f[0] === 'cpe' && f[3] !== '' && f[4] !== '' ? `${f[3]}:${f[4]}` : undefined;
};

export function indexAdvisories(advisories: readonly Advisory[]): AdvisoryIndex {
  const byName = new Map<string, Entry[]>();
  const byCpe = new Map<string, Entry[]>();
  const anyName: Entry[] = [];
  const add = (m: Map<string, Entry[]>, k: string, e: Entry) => {
    const list = m.get(k);
    if (list === undefined) m.set(k, [e]);
    else list.push(e);
  };
  let withdrawn = 0;
  for (const advisory of advisories) {
    if (advisory.withdrawn !== undefined) {
      withdrawn++;
      continue;
    }
    for (const rule of advisory.affected) {
      const e = { advisory, rule };
      if (rule.kind === 'osv') {
        add(byName, rule.name.toLowerCase(), e);
        for (const c of rule.cpes) {
          const k = cpeKey(c);
          if (k !== undefined) add(byCpe, k, e);
        }
      } else {
        const names = patternNames(rule.pattern);
        if (names === undefined) anyName.push(e);
        else for (const n of names) add(byName, n.toLowerCase(), e);
      }
    }
  }
  return { byName, byCpe, anyName, withdrawn, total: advisories.length };
}

export interface AuditResult {
  readonly findings: readonly Finding[];
  /** Advisories about an audited name that only have GIT ranges, so no release version can be judged. */
  readonly unevaluable: readonly string[];
}

/**
 * Matches packages against advisories: OSV entries by package name, recipe alias or CPE, pkgsrc patterns by
 * name (every dash-prefix of `name-version`, see patternNames). One finding per package, version and advisory;
 * advisories that name each other (an id in the other's aliases) are one finding.
 */
export function audit(packages: readonly AuditPackage[], index: AdvisoryIndex): AuditResult {
  const findings: Finding[] = [];
  const unevaluable = new Set<string>();
  for (const pkg of packages) {
    const names = [pkg.name, ...(pkg.aliases ?? [])];
    const candidates = new Set<Entry>();
    for (const n of names) {
      for (const e of index.byName.get(n.toLowerCase()) ?? []) candidates.add(e);
      const full = `${n}-${pkg.version}`.toLowerCase();
      for (let d = full.indexOf('-'); d >= 0; d = full.indexOf('-', d + 1))
        for (const e of index.byName.get(full.slice(0, d)) ?? [])
          if (e.rule.kind === 'pkgsrc') candidates.add(e);
    }
    const ck = pkg.cpe === undefined ? undefined : cpeKey(pkg.cpe);
    if (ck !== undefined) for (const e of index.byCpe.get(ck) ?? []) candidates.add(e);
    for (const e of index.anyName) candidates.add(e);
    const mine = new Map<string, Finding>();
    for (const { advisory, rule } of candidates) {
      let fixed: string | undefined;
      if (rule.kind === 'osv') {
        const byName = names.some((n) => n.toLowerCase() === rule.name.toLowerCase());
        const byCpe = ck !== undefined && rule.cpes.some((c) => cpeKey(c) === ck);
        if (!byName && !byCpe) continue;
        const v = evaluateOsv(rule, pkg.version);
        if (v.kind === 'unknown') unevaluable.add(advisory.id);
        if (v.kind !== 'affected') continue;
        fixed = v.fixed;
      } else {
        const hit = names.find((n) => matchPattern(rule.pattern, n, pkg.version));
        if (hit === undefined) continue;
        fixed = /<([^<>={}]+)$/.exec(rule.pattern)?.[1];
      }
      const sev = rule.kind === 'osv' && rule.severity !== undefined ? rule.severity : advisory;
      const score = sev.score ?? advisory.score;
      const f: Finding = {
        name: pkg.name,
        version: pkg.version,
        id: advisory.id,
        aliases: advisory.aliases,
        severity: 'level' in sev ? sev.level : sev.severity,
        ...(score === undefined ? {} : { score }),
        summary: advisory.summary,
        ...(fixed === undefined ? {} : { fixed }),
        ...(advisory.url === undefined ? {} : { url: advisory.url }),
        source: advisory.source,
        where: pkg.where,
      };
      mergeFinding(mine, f);
    }
    findings.push(...new Set(mine.values()));
  }
  findings.sort(
    (a, b) =>
      cmp(a.name, b.name) ||
      cmp(a.version, b.version) ||
      severities.indexOf(b.severity) - severities.indexOf(a.severity) ||
      cmp(a.id, b.id),
  );
  return { findings, unevaluable: [...unevaluable].sort() };
}

/** Adds `f` to `mine` (keyed by every id and alias), merging with a finding that shares an id or alias. */
function mergeFinding(mine: Map<string, Finding>, f: Finding): void {
  const keys = [f.id, ...f.aliases];
  const other = keys.map((k) => mine.get(k)).find((x) => x !== undefined);
  let merged = f;
  if (other !== undefined) {
    const better = rank(f) > rank(other) ? f : other;
    const worse = better === f ? other : f;
    const aliases = [...new Set([...better.aliases, ...worse.aliases, worse.id])].filter(
      (a) => a !== better.id,
    );
    merged = {
      ...better,
      aliases,
      ...(better.fixed === undefined && worse.fixed !== undefined ? { fixed: worse.fixed } : {}),
    };
    for (const [k, v] of mine) if (v === other) mine.set(k, merged);
  }
  for (const k of [merged.id, ...merged.aliases]) mine.set(k, merged);
}

const rank = (f: Finding) => severities.indexOf(f.severity) * 100 + (f.score ?? 0);
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export interface IgnoreOutcome {
  readonly active: readonly Finding[];
  readonly ignored: readonly { readonly finding: Finding; readonly ignore: Ignore }[];
  /** Ignores past their date: they no longer hide anything. */
  readonly expired: readonly Ignore[];
}

/** Splits findings by the accepted risks that still apply on `today` (`YYYY-MM-DD`, UTC). */
export function applyIgnores(
  findings: readonly Finding[],
  ignores: readonly Ignore[],
  today: string,
): IgnoreOutcome {
  const live = ignores.filter((i) => i.until >= today);
  const expired = ignores.filter((i) => i.until < today);
  const active: Finding[] = [];
  const ignored: { finding: Finding; ignore: Ignore }[] = [];
  for (const f of findings) {
    const ig = live.find((i) => i.id === f.id || f.aliases.includes(i.id));
    if (ig === undefined) active.push(f);
    else ignored.push({ finding: f, ignore: ig });
  }
  return { active, ignored, expired };
}

/** `--fail-on`: the threshold, or `any` (every finding counts, also those of unknown severity). */
export type FailOn = Severity | 'any';

export function parseFailOn(s: string): FailOn | undefined {
  return s === 'any' || (severities as readonly string[]).includes(s) ? (s as FailOn) : undefined;
}

/** The findings at or above the threshold; `unknown` severity counts only for `any` and `unknown`. */
export function failing(findings: readonly Finding[], failOn: FailOn): Finding[] {
  if (failOn === 'any') return [...findings];
  const min = severities.indexOf(failOn);
  return findings.filter((f) => severities.indexOf(f.severity) >= min);
}

/** Advisories a change introduces and fixes, by package name and advisory id (for plan and switch). */
export function compareAudits(
  before: readonly Finding[],
  after: readonly Finding[],
): { introduced: Finding[]; fixed: Finding[] } {
  const key = (f: Finding) => `${f.name}\0${f.id}`;
  const was = new Set(before.map(key));
  const now = new Set(after.map(key));
  return { introduced: after.filter((f) => !was.has(key(f))), fixed: before.filter((f) => !now.has(key(f))) };
}
