/**
 * pkgsrc version order ("dewey"), as pkg_install's dewey.c defines it, and its comparison operators.
 *
 * A version becomes a list of integers: digit runs are numbers; `.`, `_` and `pl` are 0; `alpha` is -3,
 * `beta` -2, `pre` and `rc` -1; any other letter is 0 followed by its position in the alphabet (a=1 … z=26);
 * `nbN` is the pkgsrc revision, kept apart and compared only when everything else is equal; every other
 * character is skipped. Lists compare element by element, the shorter padded with zeros. Letters match
 * case-insensitively. So `1.0alpha1 < 1.0beta < 1.0rc1 < 1.0 = 1.0.0 < 1.0nb1 < 1.0pl1 = 1.0.1 = 1.0a`.
 */
export interface DeweyVersion {
  readonly parts: readonly number[];
  readonly revision: number;
}

const ALPHA = -3;
const BETA = -2;
const RC = -1;
const DOT = 0;

const MODIFIERS: readonly (readonly [string, number])[] = [
  ['alpha', ALPHA],
  ['beta', BETA],
  ['pre', RC],
  ['rc', RC],
  ['pl', DOT],
  ['_', DOT],
  ['.', DOT],
];

const isDigit = (c: number) => c >= 48 && c <= 57;
const isAlpha = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

export function parseDewey(s: string): DeweyVersion {
  const parts: number[] = [];
  let revision = 0;
  const lower = s.toLowerCase();
  let i = 0;
  while (i < lower.length) {
    const c = lower.charCodeAt(i);
    if (isDigit(c)) {
      let n = 0;
      while (i < lower.length && isDigit(lower.charCodeAt(i))) n = n * 10 + lower.charCodeAt(i++) - 48;
      parts.push(n);
      continue;
    }
    const mod = MODIFIERS.find(([m]) => lower.startsWith(m, i));
    if (mod !== undefined) {
      parts.push(mod[1]);
      i += mod[0].length;
      continue;
    }
    if (lower.startsWith('nb', i)) {
      i += 2;
      let n = 0;
      while (i < lower.length && isDigit(lower.charCodeAt(i))) n = n * 10 + lower.charCodeAt(i++) - 48;
      revision = n;
      continue;
    }
    if (isAlpha(c)) parts.push(DOT, c - 96);
    i++;
  }
  return { parts, revision };
}

/** Negative, zero or positive as `a` sorts before, equal to or after `b` in dewey order. */
export function compareDewey(a: string, b: string): number {
  const x = parseDewey(a);
  const y = parseDewey(b);
  const n = Math.max(x.parts.length, y.parts.length);
  for (let i = 0; i < n; i++) {
    const d = (x.parts[i] ?? 0) - (y.parts[i] ?? 0);
    if (d !== 0) return d;
  }
  return x.revision - y.revision;
}

export const deweyOps = ['<', '<=', '>', '>=', '==', '!='] as const;
export type DeweyOp = (typeof deweyOps)[number];

/** The operator at the start of `s` (longest first, as dewey_mktest reads it), or undefined. */
export function readDeweyOp(s: string): DeweyOp | undefined {
  for (const op of ['<=', '>=', '==', '!=', '<', '>'] as const) if (s.startsWith(op)) return op;
  return undefined;
}

/** True when `version OP bound` holds in dewey order. */
export function deweyTest(version: string, op: DeweyOp, bound: string): boolean {
  const c = compareDewey(version, bound);
  switch (op) {
    case '<':
      return c < 0;
    case '<=':
      return c <= 0;
    case '>':
      return c > 0;
    case '>=':
      return c >= 0;
    case '==':
      return c === 0;
    case '!=':
      return c !== 0;
  }
}
