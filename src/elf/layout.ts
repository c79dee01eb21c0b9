import { ElfBytes, malformed, type FileRange } from './bytes.js';

export const PT_LOAD = 1;
export const PT_DYNAMIC = 2;
export const PT_INTERP = 3;
export const SHT_DYNAMIC = 6;
const SHT_NOBITS = 8;
const SHF_ALLOC = 2;
/** e_phnum value meaning "the real count is in section 0's sh_info" (more than 65534 segments). */
const PN_XNUM = 0xffff;

export interface Header {
  readonly type: number;
  readonly machine: number;
  readonly phoff: number;
  readonly phentsize: number;
  readonly phnum: number;
  readonly shoff: number;
  readonly shentsize: number;
  readonly shnum: number;
}

/** A segment or section that occupies bytes in the file (`filesz` may be 0) and, when loaded, memory at `vaddr`. */
export interface Region extends FileRange {
  readonly type: number;
  readonly vaddr: bigint;
}

/** Field offsets in one program header (Elf32_Phdr / Elf64_Phdr differ in order, not just width). */
const PHDR = {
  4: { size: 32, offset: 4, vaddr: 8, filesz: 16 },
  8: { size: 56, offset: 8, vaddr: 16, filesz: 32 },
} as const;

const SHDR = {
  4: { size: 40, type: 4, flags: 8, addr: 12, offset: 16, size_: 20, info: 28 },
  8: { size: 64, type: 4, flags: 8, addr: 16, offset: 24, size_: 32, info: 44 },
} as const;

/** Reads e_ident's class and byte order; anything but the four defined combinations is malformed. */
export function openElf(bytes: Uint8Array): ElfBytes {
  const cls = bytes[4];
  const data = bytes[5];
  if (cls !== 1 && cls !== 2) throw malformed(`unknown class ${cls ?? 'missing'} in e_ident`);
  if (data !== 1 && data !== 2) throw malformed(`unknown byte order ${data ?? 'missing'} in e_ident`);
  return new ElfBytes(bytes, cls === 2, data === 1);
}

export function readHeader(b: ElfBytes): Header {
  const w = b.word;
  b.check(0, w === 8 ? 64 : 52, 'ELF header');
  const header: Header = {
    type: b.u16(16, 'e_type'),
    machine: b.u16(18, 'e_machine'),
    phoff: b.size(24 + w, 'e_phoff'),
    shoff: b.size(24 + 2 * w, 'e_shoff'),
    phentsize: b.u16(30 + 3 * w, 'e_phentsize'),
    phnum: b.u16(32 + 3 * w, 'e_phnum'),
    shentsize: b.u16(34 + 3 * w, 'e_shentsize'),
    shnum: b.u16(36 + 3 * w, 'e_shnum'),
  };
  return checkSectionTable(b, withExtendedCounts(b, header));
}

/**
 * The section header table is usually the last thing in the file, so checking that it fits is what catches a
 * truncated file even though the dynamic information is read through segments.
 */
function checkSectionTable(b: ElfBytes, h: Header): Header {
  if (h.shoff !== 0) b.check(h.shoff, h.shnum * h.shentsize, 'section header table');
  return h;
}

/** Large files keep their real segment/section counts in section header 0; see the gABI "Extended numbering". */
function withExtendedCounts(b: ElfBytes, h: Header): Header {
  if (h.shoff === 0 || (h.phnum !== PN_XNUM && h.shnum !== 0)) return h;
  const f = SHDR[b.word];
  if (h.shentsize < f.size) throw malformed(`e_shentsize ${h.shentsize} is smaller than a section header`);
  const phnum = h.phnum === PN_XNUM ? b.u32(h.shoff + f.info, 'sh_info of section 0') : h.phnum;
  const shnum = h.shnum === 0 ? b.size(h.shoff + f.size_, 'sh_size of section 0') : h.shnum;
  return { ...h, phnum, shnum };
}

/** Every table entry's offset, after checking that the whole table lies in the file. */
function tableEntries(b: ElfBytes, at: number, count: number, entsize: number, what: string): number[] {
  if (count === 0) return [];
  b.check(at, count * entsize, what);
  return Array.from({ length: count }, (_, i) => at + i * entsize);
}

/**
 * The PT_LOAD, PT_DYNAMIC and PT_INTERP segments; other types are skipped unread, so junk in segments we do not
 * use cannot reject a file. A segment we do use must lie inside the file: a truncated file fails here.
 */
export function readSegments(b: ElfBytes, h: Header): Region[] {
  const f = PHDR[b.word];
  if (h.phnum > 0 && h.phentsize < f.size)
    throw malformed(`e_phentsize ${h.phentsize} is smaller than a program header (${f.size})`);
  const wanted = [PT_LOAD, PT_DYNAMIC, PT_INTERP];
  const out: Region[] = [];
  for (const at of tableEntries(b, h.phoff, h.phnum, h.phentsize, 'program header table')) {
    const type = b.u32(at, 'p_type');
    if (!wanted.includes(type)) continue;
    const offset = b.size(at + f.offset, 'p_offset');
    const filesz = b.size(at + f.filesz, 'p_filesz');
    b.check(offset, filesz, `segment ${(at - h.phoff) / h.phentsize}`);
    out.push({ type, offset, end: offset + filesz, vaddr: b.addr(at + f.vaddr, 'p_vaddr') });
  }
  return out;
}

/** Sections with file contents that are either SHT_DYNAMIC or loaded (SHF_ALLOC); only read as a fallback. */
export function readSections(b: ElfBytes, h: Header): Region[] {
  const f = SHDR[b.word];
  if (h.shoff === 0) return [];
  if (h.shentsize < f.size) throw malformed(`e_shentsize ${h.shentsize} is smaller than a section header`);
  const out: Region[] = [];
  for (const at of tableEntries(b, h.shoff, h.shnum, h.shentsize, 'section header table')) {
    const type = b.u32(at + f.type, 'sh_type');
    const alloc = (Number(b.addr(at + f.flags, 'sh_flags') & 0xffn) & SHF_ALLOC) !== 0;
    if (type === SHT_NOBITS || (type !== SHT_DYNAMIC && !alloc)) continue;
    const offset = b.size(at + f.offset, 'sh_offset');
    const size = b.size(at + f.size_, 'sh_size');
    b.check(offset, size, `section ${(at - h.shoff) / h.shentsize}`);
    out.push({ type, offset, end: offset + size, vaddr: b.addr(at + f.addr, 'sh_addr') });
  }
  return out;
}

/**
 * The file range holding the bytes loaded at `vaddr`, up to the end of the region that contains it. Dynamic
 * entries such as DT_STRTAB hold addresses, not offsets; this is how the loader would find them.
 */
export function mapAddress(b: ElfBytes, regions: readonly Region[], vaddr: bigint, what: string): FileRange {
  for (const r of regions) {
    const filesz = BigInt(r.end - r.offset);
    if (vaddr >= r.vaddr && vaddr < r.vaddr + filesz)
      return { offset: r.offset + b.toSize(vaddr - r.vaddr, what), end: r.end };
  }
  throw malformed(`${what} address 0x${vaddr.toString(16)} is not inside any loaded segment`);
}
