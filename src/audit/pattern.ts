import { deweyTest, readDeweyOp } from './dewey.js';

/**
 * pkgsrc package patterns, matched as pkg_install's pkg_match does, against a package `name` and `version`
 * (the pkgsrc package name is `name-version`):
 *
 * 1. `{a,b}` alternatives expand (the first group, nested groups allowed) and any alternative may match;
 * 2. a pattern with `<` or `>` is `NAME` then `OP VERSION`, or `>`/`>=` lower and `<`/`<=` upper bounds
 *    (`openssl>=3.0<3.0.7`): the name must be equal and the version pass every bound in dewey order;
 * 3. a pattern with `*`, `?` or `[` is a shell glob over `name-version` (`foo-[0-9]*`, `php5-*`);
 * 4. otherwise the pattern is an exact `name-version`;
 * 5. failing 3 and 4, `PATTERN-[0-9]*` is tried, so a bare name matches every version.
 */
export function matchPattern(pattern: string, name: string, version: string): boolean {
  const brace = pattern.indexOf('{');
  if (brace >= 0) {
    let alts = altCache.get(pattern);
    if (alts === undefined) {
      alts = expandAlternatives(pattern, brace);
      if (altCache.size > 50_000) altCache.clear();
      altCache.set(pattern, alts);
    }
    return alts.some((p) => matchPattern(p, name, version));
  }
  if (/[<>]/.test(pattern)) return matchDewey(pattern, name, version);
  const full = `${name}-${version}`;
  if (/[*?[]/.test(pattern) && globToRegExp(pattern).test(full)) return true;
  if (pattern === full) return true;
  return globToRegExp(`${pattern}-[0-9]*`).test(full);
}

/**
 * The package names a pattern can match, for indexing: its alternatives expanded, each cut before its version
 * part. Undefined when a name itself has wildcards (`php5-*`): such patterns must be tried on every package.
 * A package `a-b-1.0` must be looked up under every dash-prefix of `a-b-1.0` (`a`, `a-b`), as a glob like
 * `a-[0-9]*` cannot tell a name's dash from the version's.
 */
export function patternNames(pattern: string): readonly string[] | undefined {
  const out = new Set<string>();
  for (const p of expandAll(pattern, 0)) {
    const n = simplePatternName(p);
    if (n === undefined) return undefined;
    out.add(n);
  }
  return [...out];
}

function simplePatternName(pattern: string): string | undefined {
  const op = pattern.search(/[<>]/);
  if (op >= 0) {
    const n = pattern.slice(0, op);
    return /[*?[\]]/.test(n) ? undefined : n;
  }
  if (/[*?[]/.test(pattern)) return /^([^*?[\]]+?)-(?:\[0-9\]|[0-9])/.exec(pattern)?.[1];
  return /^(.+?)-[0-9][^-]*$/.exec(pattern)?.[1] ?? pattern;
}

function expandAll(pattern: string, depth: number): string[] {
  const brace = pattern.indexOf('{');
  if (brace < 0 || depth > 8) return [pattern];
  return expandAlternatives(pattern, brace).flatMap((p) => expandAll(p, depth + 1));
}

/** Splits the first `{…}` group (at `open`) into whole patterns, one per top-level alternative. */
function expandAlternatives(pattern: string, open: number): string[] {
  let depth = 0;
  let close = -1;
  const commas: number[] = [];
  for (let i = open; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '{') depth++;
    else if (c === '}') {
      depth--;
      if (depth === 0) {
        close = i;
        break;
      }
    } else if (c === ',' && depth === 1) commas.push(i);
  }
  if (close < 0) return [];
  const prefix = pattern.slice(0, open);
  const suffix = pattern.slice(close + 1);
  const cuts = [open, ...commas, close];
  const out: string[] = [];
  for (let i = 0; i + 1 < cuts.length; i++)
    out.push(prefix + pattern.slice((cuts[i] ?? 0) + 1, cuts[i + 1]) + suffix);
  return out;
}

function matchDewey(pattern: string, name: string, version: string): boolean {
  const sep = pattern.search(/[<>]/);
  if (pattern.slice(0, sep) !== name) return false;
  const rest = pattern.slice(sep);
  const op = readDeweyOp(rest);
  if (op === undefined) return false;
  const afterOp = rest.slice(op.length);
  if (op === '>' || op === '>=') {
    const upper = afterOp.indexOf('<');
    if (upper >= 0) {
      const upperText = afterOp.slice(upper);
      const op2 = readDeweyOp(upperText);
      if (op2 === undefined || !deweyTest(version, op2, upperText.slice(op2.length))) return false;
      return deweyTest(version, op, afterOp.slice(0, upper));
    }
  }
  return deweyTest(version, op, afterOp);
}

const globCache = new Map<string, RegExp>();
const altCache = new Map<string, string[]>();

/** fnmatch(3) without flags that matter here: `*`, `?`, `[…]` and `[!…]` classes; other characters literal. */
export function globToRegExp(glob: string): RegExp {
  const hit = globCache.get(glob);
  if (hit !== undefined) return hit;
  let re = '^';
  for (let i = 0; i < glob.length; i++) {
    const c = glob.charAt(i);
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      let j = i + 1;
      if (glob[j] === '!' || glob[j] === '^') j++;
      if (glob[j] === ']') j++;
      while (j < glob.length && glob[j] !== ']') j++;
      if (j >= glob.length) re += '\\[';
      else {
        let body = glob.slice(i + 1, j);
        if (body.startsWith('!')) body = `^${body.slice(1)}`;
        re += `[${body.replace(/\\/g, '\\\\')}]`;
        i = j;
      }
    } else re += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  const out = new RegExp(`${re}$`, 's');
  if (globCache.size > 200_000) globCache.clear();
  globCache.set(glob, out);
  return out;
}
