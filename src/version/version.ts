import { AppError } from '../core/index.js';

/**
 * A version string in Debian form, `[epoch:]upstream[-revision]`, checked by `parseVersion`:
 *
 * - `epoch`: decimal digits, at most 2147483647 (as dpkg); absent means 0.
 * - `upstream`: starts with a digit; letters, digits and `. + ~`, plus `-` when a revision follows.
 * - `revision`: after the last `-`; non-empty; letters, digits and `. + ~`.
 *
 * The string is kept as written (no normalisation): `1.0` and `0:1.0` differ as strings but compare equal.
 */
export type Version = string & { readonly __brand: 'Version' };

const MAX_EPOCH = 2147483647;

const ALLOWED =
  'a version is [epoch:]upstream[-revision]: the epoch is digits, the upstream version starts with a ' +
  'digit and uses letters, digits and . + ~ - (a hyphen only when a revision follows), the revision uses ' +
  'letters, digits and . + ~';

/** Parses a version, or throws `E_VERSION_SYNTAX` naming the string and what is allowed. */
export function parseVersion(s: string): Version {
  const problem = versionProblem(s);
  if (problem === undefined) return s as Version;
  throw new AppError('E_VERSION_SYNTAX', `"${s}" is not a valid version: ${problem}; ${ALLOWED}`, {
    hint: 'write a version like "1.2.13", "1.0~rc1", "2:4.1-3" or "3.0.1+dfsg-2"',
    details: { version: s, problem },
  });
}

export function tryParseVersion(s: string): Version | undefined {
  return versionProblem(s) === undefined ? (s as Version) : undefined;
}

export function formatVersion(v: Version): string {
  return v;
}

/** Describes the first thing wrong with `s` as a version, or returns undefined when it is valid. */
function versionProblem(s: string): string | undefined {
  if (s.length === 0) return 'it is empty';
  const colon = s.indexOf(':');
  if (colon >= 0) {
    if (colon === 0) return 'the epoch before ":" is empty';
    for (let i = 0; i < colon; i++)
      if (!isDigit(s.charCodeAt(i))) return `the epoch "${s.slice(0, colon)}" is not a number`;
    if (Number(s.slice(0, colon)) > MAX_EPOCH)
      return `the epoch ${s.slice(0, colon)} is larger than ${MAX_EPOCH}`;
  }
  const start = colon + 1;
  const hyphen = s.lastIndexOf('-');
  const end = hyphen >= start ? hyphen : s.length;
  if (start === end) return 'the upstream version is empty';
  if (!isDigit(s.charCodeAt(start)))
    return `the upstream version must start with a digit, found "${s.charAt(start)}"`;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (!(isAlnum(c) || c === DOT || c === PLUS || c === TILDE || c === HYPHEN))
      return `character "${s.charAt(i)}" at position ${i + 1} is not allowed in the upstream version`;
  }
  if (hyphen >= start) {
    if (hyphen === s.length - 1) return 'the revision after the last "-" is empty';
    for (let i = hyphen + 1; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (!(isAlnum(c) || c === DOT || c === PLUS || c === TILDE))
        return `character "${s.charAt(i)}" at position ${i + 1} is not allowed in the revision`;
    }
  }
  return undefined;
}

const DOT = 0x2e;
const PLUS = 0x2b;
const TILDE = 0x7e;
const HYPHEN = 0x2d;
const COLON = 0x3a;
const ZERO = 0x30;
const NINE = 0x39;
/** Stands for "past the end of the part"; sorts like dpkg's NUL terminator. */
const END = -1;

function isDigit(c: number): boolean {
  return c >= ZERO && c <= NINE;
}

function isAlpha(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function isAlnum(c: number): boolean {
  return isDigit(c) || isAlpha(c);
}

/** dpkg's `order()`: `~` first, then the end of the part (and digits), then letters, then everything else. */
function order(c: number): number {
  if (c === END || isDigit(c)) return 0;
  if (isAlpha(c)) return c;
  if (c === TILDE) return -1;
  return c + 256;
}

/**
 * Orders two version strings exactly as `dpkg --compare-versions` does: epochs numerically, then upstream
 * versions, then revisions, each part by dpkg's `verrevcmp`: alternating non-digit runs, compared character
 * by character with `~` lowest and letters before other characters, and digit runs compared as numbers.
 *
 * Accepts any string without throwing; the result is only meaningful for strings `parseVersion` accepts.
 * Allocates nothing, so a resolver can call it millions of times.
 */
export function compareVersions(a: string, b: string): -1 | 0 | 1 {
  if (a === b) return 0;
  // The epoch ends at the first colon; without one it is empty, which compares equal to "0".
  const aColon = epochColon(a);
  const bColon = epochColon(b);
  if (aColon >= 0 || bColon >= 0) {
    const r = verrevcmp(a, 0, aColon < 0 ? 0 : aColon, b, 0, bColon < 0 ? 0 : bColon);
    if (r !== 0) return r;
  }
  const aStart = aColon + 1;
  const bStart = bColon + 1;
  // The revision follows the last hyphen after the epoch; without one it is empty.
  const aHyphen = lastHyphen(a, aStart);
  const bHyphen = lastHyphen(b, bStart);
  const r = verrevcmp(a, aStart, aHyphen, b, bStart, bHyphen);
  if (r !== 0) return r;
  return verrevcmp(a, aHyphen + 1, a.length, b, bHyphen + 1, b.length);
}

/**
 * Index of the colon ending the epoch, or -1. Like dpkg this is the first colon; a valid epoch is all
 * digits, so the scan stops at the first non-digit instead of searching the whole string (a later colon is
 * invalid anyway).
 */
function epochColon(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === COLON) return i;
    if (c < ZERO || c > NINE) return -1;
  }
  return -1;
}

/** Index of the last hyphen at or after `start`, or `s.length` when there is none. Revisions are short. */
function lastHyphen(s: string, start: number): number {
  for (let i = s.length - 1; i >= start; i--) if (s.charCodeAt(i) === HYPHEN) return i;
  return s.length;
}

/** dpkg's `verrevcmp` over `a[ai, ae)` and `b[bi, be)`. */
function verrevcmp(a: string, ai: number, ae: number, b: string, bi: number, be: number): -1 | 0 | 1 {
  while (ai < ae || bi < be) {
    // Non-digit run: compare character by character until both sides reach a digit or their end.
    for (;;) {
      const ca = ai < ae ? a.charCodeAt(ai) : END;
      const cb = bi < be ? b.charCodeAt(bi) : END;
      const aStop = ca === END || (ca >= ZERO && ca <= NINE);
      const bStop = cb === END || (cb >= ZERO && cb <= NINE);
      if (aStop && bStop) break;
      const oa = order(ca);
      const ob = order(cb);
      if (oa !== ob) return oa < ob ? -1 : 1;
      ai++;
      bi++;
    }
    // Digit run: skip leading zeros, then the longer run is larger, else the first differing digit decides.
    while (ai < ae && a.charCodeAt(ai) === ZERO) ai++;
    while (bi < be && b.charCodeAt(bi) === ZERO) bi++;
    let firstDiff = 0;
    for (;;) {
      const ca = ai < ae ? a.charCodeAt(ai) : END;
      const cb = bi < be ? b.charCodeAt(bi) : END;
      const aDigit = ca >= ZERO && ca <= NINE;
      const bDigit = cb >= ZERO && cb <= NINE;
      if (aDigit && bDigit) {
        if (firstDiff === 0) firstDiff = ca - cb;
        ai++;
        bi++;
      } else if (aDigit) {
        return 1;
      } else if (bDigit) {
        return -1;
      } else {
        break;
      }
    }
    if (firstDiff !== 0) return firstDiff < 0 ? -1 : 1;
  }
  return 0;
}
