import type { ElfBytes } from './bytes.js';
import {
  openStringTable,
  readDynamicEntries,
  readDynamicInfo,
  verneedTable,
  type DynamicInfo,
} from './dynamic.js';
import {
  openElf,
  PT_DYNAMIC,
  PT_INTERP,
  PT_LOAD,
  readHeader,
  readSections,
  readSegments,
  SHT_DYNAMIC,
  type Header,
  type Region,
} from './layout.js';
import { archName } from './machine.js';
import { maxGlibcOf, readVersionNeeds } from './versions.js';

/** What the build step needs to know about one ELF file. */
export interface ElfInfo {
  readonly class: 32 | 64;
  readonly endian: 'little' | 'big';
  /** A position-independent executable is 'dyn', like a shared library: the file type cannot tell them apart. */
  readonly type: 'exec' | 'dyn' | 'rel' | 'core' | 'other';
  /** `uname -m` style name of e_machine ('x86_64', 'aarch64', 'ppc64le', …); unknown values are `em-<n>`. */
  readonly arch: string;
  /** PT_INTERP: the dynamic loader the kernel starts for this file. */
  readonly interpreter?: string;
  readonly soname?: string;
  /** DT_NEEDED in file order, which is the order the loader loads them in. */
  readonly needed: readonly string[];
  /** DT_RUNPATH split on ':', empty entries kept (the loader reads them as the current directory). */
  readonly runpath: readonly string[];
  /** DT_RPATH split on ':'; the loader ignores it when DT_RUNPATH is present. */
  readonly rpath: readonly string[];
  /**
   * Versions required from other objects (.gnu.version_r / DT_VERNEED): file name → version names in table
   * order, e.g. { 'libc.so.6': ['GLIBC_2.2.5', 'GLIBC_2.34'] }. Empty when the file needs no versions.
   */
  readonly versionNeeds: Readonly<Record<string, readonly string[]>>;
  /** Highest GLIBC_x.y needed from any file, compared numerically (2.34 > 2.4), without the prefix. */
  readonly maxGlibc?: string;
  /**
   * Byte offset and length (without the NUL) of the DT_RUNPATH string, or of DT_RPATH when there is no
   * DT_RUNPATH, so a caller can rewrite it in place with a string no longer than `length`.
   */
  readonly runpathLocation?: { readonly offset: number; readonly length: number };
}

const TYPES = ['other', 'rel', 'exec', 'dyn', 'core'] as const;

/** True when `bytes` starts with the ELF magic; says nothing about whether the rest is well formed. */
export function isElf(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46
  );
}

/**
 * Parses an ELF file's identity, dynamic section and version needs. Returns undefined when `bytes` is not ELF at
 * all; throws `Error('malformed ELF: …')` when it claims to be ELF but is truncated or inconsistent. The input
 * is untrusted: every read is bounds checked and every walk is bounded by the file's size.
 */
export function readElf(bytes: Uint8Array): ElfInfo | undefined {
  if (!isElf(bytes)) return undefined;
  const b = openElf(bytes);
  const header = readHeader(b);
  const segments = readSegments(b, header);
  const interp = segments.find((s) => s.type === PT_INTERP);
  return {
    class: b.is64 ? 64 : 32,
    endian: b.little ? 'little' : 'big',
    type: TYPES[header.type] ?? 'other',
    arch: archName(header.machine, b.is64, b.little),
    ...(interp === undefined ? {} : interpreterOf(b, interp)),
    ...readLinking(b, header, segments),
  };
}

function interpreterOf(b: ElfBytes, interp: Region): { interpreter?: string } {
  // Files made by `objcopy --only-keep-debug` keep the header but not the bytes.
  if (interp.end === interp.offset) return {};
  return { interpreter: b.cstring(interp.offset, interp.end, 'PT_INTERP').text };
}

type Linking = Pick<
  ElfInfo,
  'soname' | 'needed' | 'runpath' | 'rpath' | 'versionNeeds' | 'maxGlibc' | 'runpathLocation'
>;

function readLinking(b: ElfBytes, header: Header, segments: readonly Region[]): Linking {
  const sections = lazy(() => readSections(b, header));
  const dynamic =
    segments.find((s) => s.type === PT_DYNAMIC) ?? sections().find((s) => s.type === SHT_DYNAMIC);
  const entries = dynamic === undefined ? [] : readDynamicEntries(b, dynamic);
  const loads = segments.filter((s) => s.type === PT_LOAD);
  const regions = loads.length > 0 ? loads : sections();
  const str = openStringTable(b, entries, regions);
  const paths = pathsOf(readDynamicInfo(entries, str));
  const table = verneedTable(b, entries, regions);
  const versionNeeds = table === undefined ? {} : readVersionNeeds(b, table, str);
  const maxGlibc = maxGlibcOf(versionNeeds);
  return {
    ...paths,
    versionNeeds,
    ...(maxGlibc === undefined ? {} : { maxGlibc }),
  };
}

function pathsOf(info: DynamicInfo): Omit<Linking, 'versionNeeds' | 'maxGlibc'> {
  const location = info.runpath ?? info.rpath;
  return {
    needed: info.needed,
    runpath: splitPath(info.runpath?.text),
    rpath: splitPath(info.rpath?.text),
    ...(info.soname === undefined ? {} : { soname: info.soname.text }),
    ...(location === undefined
      ? {}
      : { runpathLocation: { offset: location.offset, length: location.length } }),
  };
}

function splitPath(text: string | undefined): string[] {
  return text === undefined || text === '' ? [] : text.split(':');
}

function lazy<T>(make: () => T): () => T {
  let value: { v: T } | undefined;
  return () => (value ??= { v: make() }).v;
}
