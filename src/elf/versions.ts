import { assert } from '../core/index.js';
import type { ElfBytes } from './bytes.js';
import type { StringReader } from './dynamic.js';

/** Elf32_Verneed and Elf64_Verneed are the same 16 bytes; so are the Vernaux records. */
const RECORD = 16;

/**
 * Versions required from other objects (.gnu.version_r), file name → version names in table order.
 * Every link in the chain is an unsigned offset forward from the current record, so the walk always advances and
 * ends at the end of the file at the latest; the work budget bounds the total across both levels.
 */
export function readVersionNeeds(
  b: ElfBytes,
  table: { readonly offset: number; readonly count: number },
  str: StringReader,
): Record<string, readonly string[]> {
  const needs = new Map<string, Set<string>>();
  let at = table.offset;
  for (let i = 0; i < table.count; i++) {
    b.spend(RECORD, 'DT_VERNEED');
    b.check(at, RECORD, 'version need record');
    const file = str(BigInt(b.u32(at + 4, 'vn_file')), 'vn_file').text;
    const names = needs.get(file) ?? new Set<string>();
    needs.set(file, names);
    readAux(b, at + b.u32(at + 8, 'vn_aux'), b.u16(at + 2, 'vn_cnt'), str).forEach((n) => names.add(n));
    const next = b.u32(at + 12, 'vn_next');
    if (next === 0) break;
    at += next;
  }
  // Object.fromEntries defines own properties, so a file named "__proto__" cannot touch the prototype.
  return Object.fromEntries([...needs].map(([file, names]) => [file, [...names]]));
}

function readAux(b: ElfBytes, start: number, count: number, str: StringReader): string[] {
  const out: string[] = [];
  let at = start;
  for (let i = 0; i < count; i++) {
    b.spend(RECORD, 'vn_aux');
    b.check(at, RECORD, 'version need aux record');
    out.push(str(BigInt(b.u32(at + 8, 'vna_name')), 'vna_name').text);
    const next = b.u32(at + 12, 'vna_next');
    if (next === 0) break;
    at += next;
  }
  return out;
}

const GLIBC_VERSION = /^GLIBC_(\d+(?:\.\d+)*)$/;
const NUMERIC_VERSION = /^\d+(?:\.\d+)*$/;

/**
 * The highest `GLIBC_x.y[.z]` version in `needs`, without the prefix. Names such as GLIBC_PRIVATE or
 * GLIBC_ABI_DT_RELR are markers, not releases, and are ignored.
 */
export function maxGlibcOf(needs: Readonly<Record<string, readonly string[]>>): string | undefined {
  let max: string | undefined;
  for (const name of Object.values(needs).flat()) {
    const v = GLIBC_VERSION.exec(name)?.[1];
    if (v !== undefined && (max === undefined || compareGlibc(v, max) > 0)) max = v;
  }
  return max;
}

/**
 * Orders glibc versions such as '2.34' and '2.4' numerically, component by component; a missing component
 * counts as 0, so '2.4' equals '2.4.0'. Components are compared as digit strings, so no size overflows.
 * Returns -1, 0 or 1, so it can be passed to `Array.prototype.sort`.
 */
export function compareGlibc(a: string, b: string): number {
  assert(NUMERIC_VERSION.test(a), `compareGlibc: not a glibc version: "${a}"`);
  assert(NUMERIC_VERSION.test(b), `compareGlibc: not a glibc version: "${b}"`);
  const xs = a.split('.');
  const ys = b.split('.');
  for (let i = 0; i < Math.max(xs.length, ys.length); i++) {
    const c = compareDigits(xs[i] ?? '0', ys[i] ?? '0');
    if (c !== 0) return c;
  }
  return 0;
}

function compareDigits(x: string, y: string): number {
  const a = x.replace(/^0+(?=\d)/, '');
  const b = y.replace(/^0+(?=\d)/, '');
  if (a.length !== b.length) return Math.sign(a.length - b.length);
  return a < b ? -1 : a > b ? 1 : 0;
}
