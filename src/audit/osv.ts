import { AppError } from '../core/index.js';
import { compareVersions } from '../version/index.js';
import { cvss3BaseScore, cvss4BaseScore, severityOfScore, severityOfWord } from './cvss.js';
import type { Advisory, AffectedRule, OsvEvent, OsvRange, Severity } from './types.js';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];

/** True when `v` is shaped like one OSV record (an `id` and an `affected` list or a `modified` time). */
export function isOsvRecord(v: unknown): v is Json {
  return (
    isObject(v) && typeof v.id === 'string' && (Array.isArray(v.affected) || typeof v.modified === 'string')
  );
}

/**
 * The OSV records in a parsed JSON document: one record, a list of records, or an object whose values are
 * records (an export keyed by id). Throws E_ADVISORY_FORMAT for anything else, naming `source`.
 */
export function readOsvDocument(doc: unknown, source: string): Advisory[] {
  if (isOsvRecord(doc)) return [parseOsvRecord(doc, source)];
  const list = Array.isArray(doc) ? doc : isObject(doc) ? Object.values(doc) : [];
  if (list.length > 0 && list.every(isOsvRecord)) return list.map((r) => parseOsvRecord(r, source));
  throw new AppError('E_ADVISORY_FORMAT', `${source}: not an OSV record (no "id" and "affected")`, {
    hint: 'advisory files are OSV JSON records (one per file, a list, or a zip of them) or pkgsrc pkg-vulnerabilities',
    details: { file: source },
  });
}

/**
 * One OSV record (schema 1.x) → an Advisory. Ranges of an unknown type are dropped; GIT ranges are kept but
 * cannot be evaluated against release versions (only the record's `versions` list can match then).
 */
export function parseOsvRecord(r: Json, source: string): Advisory {
  const id = r.id as string;
  const schema = typeof r.schema_version === 'string' ? r.schema_version : '1.0.0';
  if (!schema.startsWith('1.'))
    throw new AppError(
      'E_ADVISORY_FORMAT',
      `${source}: ${id} has schema_version ${schema}; this ferry reads OSV 1.x`,
      { hint: 'upgrade ferry', details: { file: source, id } },
    );
  const top = severityOf(r.severity, r.database_specific);
  const affected: AffectedRule[] = [];
  for (const a of Array.isArray(r.affected) ? r.affected : []) {
    if (!isObject(a) || !isObject(a.package) || typeof a.package.name !== 'string') continue;
    const ranges: OsvRange[] = [];
    for (const range of Array.isArray(a.ranges) ? a.ranges : []) {
      if (!isObject(range)) continue;
      const type = range.type;
      if (type !== 'ECOSYSTEM' && type !== 'SEMVER' && type !== 'GIT') continue;
      ranges.push({ type, events: (Array.isArray(range.events) ? range.events : []).flatMap(readEvent) });
    }
    const dbs = isObject(a.database_specific) ? a.database_specific : {};
    const cpes = [...strings(dbs.cpes), ...(typeof dbs.cpe === 'string' ? [dbs.cpe] : [])];
    const own = severityOf(a.severity, a.ecosystem_specific, a.database_specific);
    affected.push({
      kind: 'osv',
      name: a.package.name,
      ecosystem: typeof a.package.ecosystem === 'string' ? a.package.ecosystem : '',
      ranges,
      versions: strings(a.versions),
      cpes,
      ...(own.level === 'unknown' ? {} : { severity: own }),
    });
  }
  const firstAffected = affected.find((x) => x.kind === 'osv' && x.severity !== undefined);
  const sev = top.level !== 'unknown' ? top : firstAffected?.kind === 'osv' ? firstAffected.severity : top;
  const refs = Array.isArray(r.references) ? r.references.filter(isObject) : [];
  const url =
    refs.find((x) => x.type === 'ADVISORY' && typeof x.url === 'string')?.url ??
    refs.find((x) => typeof x.url === 'string')?.url;
  return {
    id,
    aliases: strings(r.aliases),
    summary:
      typeof r.summary === 'string'
        ? r.summary
        : typeof r.details === 'string'
          ? (r.details.split('\n')[0] ?? '')
          : '',
    severity: sev?.level ?? 'unknown',
    ...(sev?.score === undefined ? {} : { score: sev.score }),
    ...(sev?.vector === undefined ? {} : { vector: sev.vector }),
    ...(typeof url === 'string' ? { url } : {}),
    ...(typeof r.withdrawn === 'string' ? { withdrawn: r.withdrawn } : {}),
    ...(typeof r.modified === 'string' ? { modified: r.modified } : {}),
    affected,
    source,
  };
}

function readEvent(e: unknown): OsvEvent[] {
  if (!isObject(e)) return [];
  const s = (k: string) => (typeof e[k] === 'string' ? e[k] : undefined);
  const introduced = s('introduced');
  const fixed = s('fixed');
  const lastAffected = s('last_affected');
  const limit = s('limit');
  if (introduced !== undefined) return [{ introduced }];
  if (fixed !== undefined) return [{ fixed }];
  if (lastAffected !== undefined) return [{ lastAffected }];
  if (limit !== undefined) return [{ limit }];
  return [];
}

/** The strongest statement about severity: a CVSS v4 vector's score, else a v3 one's, else a `severity` word. */
function severityOf(
  list: unknown,
  ...specific: unknown[]
): { level: Severity; score?: number; vector?: string } {
  const vectors = (Array.isArray(list) ? list : []).flatMap((s) =>
    isObject(s) && typeof s.score === 'string' ? [s.score] : [],
  );
  for (const scoreOf of [cvss4BaseScore, cvss3BaseScore]) {
    for (const vector of vectors) {
      const score = scoreOf(vector);
      if (score !== undefined) return { level: severityOfScore(score), score, vector };
    }
  }
  for (const t of specific) {
    if (!isObject(t)) continue;
    const level = severityOfWord(t.severity);
    if (level !== 'unknown') return { level };
  }
  return { level: 'unknown' };
}

/** What one OSV package entry says about `version`. */
export type OsvVerdict =
  | { readonly kind: 'affected'; readonly fixed?: string }
  | { readonly kind: 'unaffected' }
  /** Only GIT ranges: needs commit ancestry, which a release version does not have. */
  | { readonly kind: 'unknown' };

/**
 * Evaluates an OSV entry as the OSV specification does: a version is affected when it is listed in `versions`,
 * or when, walking a range's events in version order (`introduced: "0"` first), the last event at or below it is
 * an `introduced` (a `fixed` at or below it, or a `last_affected` below it, ends the interval). A range may hold
 * several intervals. SEMVER ranges compare as SemVer 2.0; ECOSYSTEM ranges in dpkg order (epochs, `~`), which is
 * also right for Debian and Ubuntu records and sensible for plain dotted versions.
 */
export function evaluateOsv(rule: Extract<AffectedRule, { kind: 'osv' }>, version: string): OsvVerdict {
  let evaluable = false;
  let hit: OsvVerdict | undefined;
  for (const range of rule.ranges) {
    if (range.type === 'GIT') continue;
    evaluable = true;
    const cmp = range.type === 'SEMVER' ? compareSemver : compareVersions;
    const at = (e: OsvEvent) => e.introduced ?? e.fixed ?? e.lastAffected ?? e.limit ?? '';
    const events = range.events
      .filter((e) => e.limit === undefined)
      .slice()
      .sort((x, y) => (x.introduced === '0' ? -1 : y.introduced === '0' ? 1 : cmp(at(x), at(y))));
    let affected = false;
    for (const e of events) {
      if (e.introduced !== undefined && (e.introduced === '0' || cmp(version, e.introduced) >= 0))
        affected = true;
      else if (e.fixed !== undefined && cmp(version, e.fixed) >= 0) affected = false;
      else if (e.lastAffected !== undefined && cmp(version, e.lastAffected) > 0) affected = false;
    }
    if (affected) {
      const fixed = events.find((e) => e.fixed !== undefined && cmp(e.fixed, version) > 0)?.fixed;
      if (hit === undefined || (hit.kind === 'affected' && hit.fixed === undefined))
        hit = fixed === undefined ? { kind: 'affected' } : { kind: 'affected', fixed };
    }
  }
  if (hit !== undefined) return hit;
  if (rule.versions.some((v) => v === version || compareVersions(v, version) === 0))
    return { kind: 'affected' };
  return evaluable || rule.versions.length > 0 ? { kind: 'unaffected' } : { kind: 'unknown' };
}

const SEMVER_RE = /^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;

/** SemVer 2.0 precedence (build metadata ignored); strings that are not SemVer compare in dpkg order. */
export function compareSemver(a: string, b: string): number {
  const x = SEMVER_RE.exec(a);
  const y = SEMVER_RE.exec(b);
  if (x === null || y === null) return compareVersions(a, b);
  for (let i = 1; i <= 3; i++) {
    const d = Number(x[i]) - Number(y[i]);
    if (d !== 0) return Math.sign(d);
  }
  const px = x[4];
  const py = y[4];
  if (px === undefined || py === undefined) return px === py ? 0 : px === undefined ? 1 : -1;
  const ix = px.split('.');
  const iy = py.split('.');
  for (let i = 0; i < Math.max(ix.length, iy.length); i++) {
    const p = ix[i];
    const q = iy[i];
    if (p === undefined) return -1;
    if (q === undefined) return 1;
    const np = /^\d+$/.test(p);
    const nq = /^\d+$/.test(q);
    if (np && nq) {
      const d = Number(p) - Number(q);
      if (d !== 0) return Math.sign(d);
    } else if (np !== nq) return np ? -1 : 1;
    else if (p !== q) return p < q ? -1 : 1;
  }
  return 0;
}
