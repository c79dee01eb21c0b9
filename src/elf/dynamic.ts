import { malformed, type ElfBytes, type FileRange } from './bytes.js';
import { mapAddress, type Region } from './layout.js';

const DT_NULL = 0;
const DT_NEEDED = 1;
const DT_STRTAB = 5;
const DT_STRSZ = 10;
const DT_SONAME = 14;
const DT_RPATH = 15;
const DT_RUNPATH = 29;
const DT_VERNEED = 0x6ffffffe;
const DT_VERNEEDNUM = 0x6fffffff;

export interface DynamicEntry {
  readonly tag: number;
  readonly value: bigint;
}

/** A string from the dynamic string table, with where its bytes are, so a caller can rewrite it in place. */
export interface DynamicString {
  readonly text: string;
  readonly offset: number;
  readonly length: number;
}

export interface DynamicInfo {
  readonly needed: readonly string[];
  readonly soname?: DynamicString;
  readonly runpath?: DynamicString;
  readonly rpath?: DynamicString;
}

/** The entries of a dynamic section, up to DT_NULL or the end of `range`, whichever comes first. */
export function readDynamicEntries(b: ElfBytes, range: FileRange): DynamicEntry[] {
  const entsize = 2 * b.word;
  const out: DynamicEntry[] = [];
  for (let at = range.offset; at + entsize <= range.end; at += entsize) {
    const tag = b.signed(at, 'd_tag');
    if (tag === DT_NULL) break;
    out.push({ tag, value: b.addr(at + b.word, 'd_val') });
  }
  return out;
}

/** The value of the first entry with `tag`; the loader also uses the first. */
export function dynamicValue(entries: readonly DynamicEntry[], tag: number): bigint | undefined {
  return entries.find((e) => e.tag === tag)?.value;
}

export type StringReader = (offset: bigint, what: string) => DynamicString;

/**
 * Reads strings out of DT_STRTAB, bounded by DT_STRSZ when present and by the segment holding it. The table is
 * located on first use, so a dynamic section that names no strings needs no DT_STRTAB.
 */
export function openStringTable(
  b: ElfBytes,
  entries: readonly DynamicEntry[],
  regions: readonly Region[],
): StringReader {
  const cache = new Map<bigint, DynamicString>();
  let table: FileRange | undefined;
  return (offset, what) => {
    table ??= locateStringTable(b, entries, regions);
    const hit = cache.get(offset);
    if (hit !== undefined) return hit;
    if (offset >= BigInt(table.end - table.offset)) throw malformed(`${what} points past the string table`);
    const at = table.offset + Number(offset);
    const s = { ...b.cstring(at, table.end, what), offset: at };
    cache.set(offset, s);
    return s;
  };
}

function locateStringTable(
  b: ElfBytes,
  entries: readonly DynamicEntry[],
  regions: readonly Region[],
): FileRange {
  const addr = dynamicValue(entries, DT_STRTAB);
  if (addr === undefined) throw malformed('the dynamic section names strings but has no DT_STRTAB');
  const range = mapAddress(b, regions, addr, 'DT_STRTAB');
  const strsz = dynamicValue(entries, DT_STRSZ);
  if (strsz === undefined) return range;
  const size = b.toSize(strsz, 'DT_STRSZ');
  if (range.offset + size > range.end)
    throw malformed('DT_STRSZ runs past the segment holding the string table');
  return { offset: range.offset, end: range.offset + size };
}

export function readDynamicInfo(entries: readonly DynamicEntry[], str: StringReader): DynamicInfo {
  const named = (tag: number, what: string) => {
    const v = dynamicValue(entries, tag);
    return v === undefined ? undefined : str(v, what);
  };
  // DT_NEEDED first: it is what a caller most wants named when the string table is damaged.
  const needed = entries.filter((e) => e.tag === DT_NEEDED).map((e) => str(e.value, 'DT_NEEDED').text);
  const soname = named(DT_SONAME, 'DT_SONAME');
  const runpath = named(DT_RUNPATH, 'DT_RUNPATH');
  const rpath = named(DT_RPATH, 'DT_RPATH');
  return {
    needed,
    ...(soname === undefined ? {} : { soname }),
    ...(runpath === undefined ? {} : { runpath }),
    ...(rpath === undefined ? {} : { rpath }),
  };
}

/** Where DT_VERNEED's table starts and how many entries it has, or undefined when the file needs no versions. */
export function verneedTable(
  b: ElfBytes,
  entries: readonly DynamicEntry[],
  regions: readonly Region[],
): { readonly offset: number; readonly count: number } | undefined {
  const addr = dynamicValue(entries, DT_VERNEED);
  if (addr === undefined) return undefined;
  const count = dynamicValue(entries, DT_VERNEEDNUM) ?? 0n;
  return {
    offset: mapAddress(b, regions, addr, 'DT_VERNEED').offset,
    count: b.toSize(count, 'DT_VERNEEDNUM'),
  };
}
