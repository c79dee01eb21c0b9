import { createRequire } from 'node:module';
import type { Severity } from './types.js';

const WEIGHTS = {
  AV: { N: 0.85, A: 0.62, L: 0.55, P: 0.2 },
  AC: { L: 0.77, H: 0.44 },
  UI: { N: 0.85, R: 0.62 },
  CIA: { H: 0.56, L: 0.22, N: 0 },
} as const;

const BASE = ['AV', 'AC', 'PR', 'UI', 'S', 'C', 'I', 'A'] as const;

/**
 * The base score (0.0–10.0) of a CVSS v3.0 or v3.1 vector (`CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H`), with
 * the specification's formulas and each version's round-up; undefined when the string is not a complete v3
 * vector. Temporal and environmental metrics are ignored: advisories publish base scores.
 */
export function cvss3BaseScore(vector: string): number | undefined {
  const parts = vector.trim().split('/');
  const head = parts.shift();
  if (head !== 'CVSS:3.0' && head !== 'CVSS:3.1') return undefined;
  const m = new Map<string, string>();
  for (const p of parts) {
    const [k, v, ...extra] = p.split(':');
    if (k === undefined || v === undefined || extra.length > 0 || m.has(k)) return undefined;
    m.set(k, v);
  }
  if (BASE.some((k) => !m.has(k))) return undefined;
  const get = (table: Readonly<Record<string, number>>, k: string): number | undefined =>
    (table as Readonly<Record<string, number | undefined>>)[m.get(k) ?? ''];
  const scope = m.get('S');
  if (scope !== 'U' && scope !== 'C') return undefined;
  const changed = scope === 'C';
  const pr = { N: 0.85, L: changed ? 0.68 : 0.62, H: changed ? 0.5 : 0.27 };
  const av = get(WEIGHTS.AV, 'AV');
  const ac = get(WEIGHTS.AC, 'AC');
  const prw = get(pr, 'PR');
  const ui = get(WEIGHTS.UI, 'UI');
  const c = get(WEIGHTS.CIA, 'C');
  const i = get(WEIGHTS.CIA, 'I');
  const a = get(WEIGHTS.CIA, 'A');
  if ([av, ac, prw, ui, c, i, a].some((x) => x === undefined)) return undefined;
  const iss = 1 - (1 - (c ?? 0)) * (1 - (i ?? 0)) * (1 - (a ?? 0));
  const impact = changed ? 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15 : 6.42 * iss;
  const exploitability = 8.22 * (av ?? 0) * (ac ?? 0) * (prw ?? 0) * (ui ?? 0);
  if (impact <= 0) return 0;
  const roundUp = head === 'CVSS:3.1' ? roundUp31 : roundUp30;
  return changed
    ? roundUp(Math.min(1.08 * (impact + exploitability), 10))
    : roundUp(Math.min(impact + exploitability, 10));
}

/** CVSS v4.0's base metrics and their values, in the specification's order. */
export const CVSS4_BASE_METRICS: Readonly<Record<string, string>> = {
  AV: 'NALP',
  AC: 'LH',
  AT: 'NP',
  PR: 'NLH',
  UI: 'NPA',
  VC: 'HLN',
  VI: 'HLN',
  VA: 'HLN',
  SC: 'HLN',
  SI: 'HLN',
  SA: 'HLN',
};

/** The threat, environmental and supplemental metrics a v4.0 vector may also carry; they do not change the base. */
const V4_OTHER = new Set('E CR IR AR MAV MAC MAT MPR MUI MVC MVI MVA MSC MSI MSA S AU R V RE U'.split(' '));

interface Cvss4Library {
  Cvss4P0: new (vector: string) => { calculateScores(): { overall: number } };
}

let cvss4Library: Cvss4Library | undefined;
const cvss4Scores = new Map<string, number>();

/**
 * The base score (CVSS-B, 0.0–10.0) of a CVSS v4.0 vector; undefined unless every base metric is present once
 * with a valid value. Threat and environmental metrics are dropped, as for v3: advisories publish base scores.
 * v4.0 scores come from the specification's table of macrovector scores and an interpolation between them, which
 * `ae-cvss-calculator` implements with the reference calculator's rounding; it is loaded on the first v4 vector,
 * and scores are kept per vector because an advisory database repeats a few hundred vectors thousands of times.
 */
export function cvss4BaseScore(vector: string): number | undefined {
  const base = cvss4Base(vector);
  if (base === undefined) return undefined;
  let score = cvss4Scores.get(base);
  if (score === undefined) {
    cvss4Library ??= createRequire(import.meta.url)('ae-cvss-calculator') as Cvss4Library;
    score = new cvss4Library.Cvss4P0(base).calculateScores().overall;
    cvss4Scores.set(base, score);
  }
  return score;
}

/** The vector reduced to its base metrics in canonical order, or undefined when it is not a valid v4.0 vector. */
function cvss4Base(vector: string): string | undefined {
  const parts = vector.trim().split('/');
  if (parts.shift() !== 'CVSS:4.0') return undefined;
  const m = new Map<string, string>();
  for (const p of parts) {
    const [k, v, ...extra] = p.split(':');
    if (k === undefined || !v || extra.length > 0 || m.has(k)) return undefined;
    if (!(k in CVSS4_BASE_METRICS) && !V4_OTHER.has(k)) return undefined;
    m.set(k, v);
  }
  const out = ['CVSS:4.0'];
  for (const [k, values] of Object.entries(CVSS4_BASE_METRICS)) {
    const v = m.get(k);
    if (v?.length !== 1 || !values.includes(v)) return undefined;
    out.push(`${k}:${v}`);
  }
  return out.join('/');
}

/** CVSS v3.1 Appendix A: the smallest one-decimal number ≥ x, immune to floating-point noise. */
function roundUp31(x: number): number {
  const n = Math.round(x * 100000);
  return n % 10000 === 0 ? n / 100000 : (Math.floor(n / 10000) + 1) / 10;
}

function roundUp30(x: number): number {
  return Math.ceil(x * 10) / 10;
}

/** The qualitative rating of a CVSS v3 or v4 score: 0 none (reported as low), 0.1–3.9 low, 4–6.9 medium, 7–8.9 high, 9+ critical. */
export function severityOfScore(score: number): Severity {
  if (score >= 9) return 'critical';
  if (score >= 7) return 'high';
  if (score >= 4) return 'medium';
  return 'low';
}

/** A database's own word (GHSA's MODERATE, OSS-Fuzz's HIGH…) as a severity; unknown words are `unknown`. */
export function severityOfWord(word: unknown): Severity {
  if (typeof word !== 'string') return 'unknown';
  switch (word.trim().toLowerCase()) {
    case 'critical':
      return 'critical';
    case 'high':
    case 'important':
      return 'high';
    case 'medium':
    case 'moderate':
      return 'medium';
    case 'low':
    case 'negligible':
    case 'unimportant':
      return 'low';
    default:
      return 'unknown';
  }
}
