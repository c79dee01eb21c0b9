import { compareVersions, type Version } from './version.js';

export const ops = ['<', '<=', '=', '>=', '>', '!='] as const;

export type Op = (typeof ops)[number];

/** One comparison a version must pass: `version OP constraint.version`. */
export interface Constraint {
  readonly op: Op;
  readonly version: Version;
}

/** A conjunction of constraints; the empty range admits every version. */
export type VersionRange = readonly Constraint[];

/** Reads an operator as a dependency string writes it, accepting `==` as `=`; undefined for others. */
export function parseOp(s: string): Op | undefined {
  switch (s) {
    case '<':
    case '<=':
    case '=':
    case '>=':
    case '>':
    case '!=':
      return s;
    case '==':
      return '=';
    default:
      return undefined;
  }
}

/** True when `v` passes every constraint of `range`, comparing with dpkg order (so `1.0` = `0:1.0`). */
export function satisfies(v: string, range: VersionRange): boolean {
  for (const c of range) {
    const r = compareVersions(v, c.version);
    let ok: boolean;
    switch (c.op) {
      case '<':
        ok = r < 0;
        break;
      case '<=':
        ok = r <= 0;
        break;
      case '=':
        ok = r === 0;
        break;
      case '>=':
        ok = r >= 0;
        break;
      case '>':
        ok = r > 0;
        break;
      case '!=':
        ok = r !== 0;
        break;
    }
    if (!ok) return false;
  }
  return true;
}

/** Renders a range as dependency strings write it, e.g. `>= 1.2.11, < 2`; the empty range renders as "". */
export function formatRange(range: VersionRange): string {
  return range.map((c) => `${c.op} ${c.version}`).join(', ');
}
