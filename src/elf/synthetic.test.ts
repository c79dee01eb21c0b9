// Hand-built ELF files: the only way to cover 32-bit and big-endian layouts, the section-header fallback, and
// precisely placed corruption on a host that only runs x86_64 binaries.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isElf, readElf, type ElfInfo } from './index.js';

interface Shape {
  readonly is64: boolean;
  readonly little: boolean;
  readonly machine: number;
  /** Virtual address of file offset 0; a 64-bit kernel-style base checks addresses above 2^53. */
  readonly base: bigint;
  /** 'sections': no program headers, so the reader must fall back to SHT_DYNAMIC and section addresses. */
  readonly layout: 'segments' | 'sections';
  readonly pathTag: 'runpath' | 'rpath';
  /** Extra DT_NEEDED entries pointing into one long string, to check the work budget. */
  readonly bulk?: { readonly length: number; readonly count: number };
}

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const INTERP = '/lib/ld-test.so.1';
const RUNPATH = '/opt/a:$ORIGIN/lib';
const STRINGS = [
  '',
  'libfoo.so.1',
  'libc.so.6',
  'libsyn.so.2',
  RUNPATH,
  'GLIBC_2.4',
  'GLIBC_2.17',
  'GLIBC_PRIVATE',
  'FOO_1.0',
];

class Writer {
  readonly bytes: Uint8Array;
  readonly word: 4 | 8;
  private readonly view: DataView;
  private readonly little: boolean;

  constructor(bytes: Uint8Array, is64: boolean, little: boolean) {
    this.bytes = bytes;
    this.word = is64 ? 8 : 4;
    this.little = little;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  // Each setter returns the writer so a corruption fits in a one-line table row.
  u8(at: number, v: number): this {
    this.view.setUint8(at, v);
    return this;
  }
  u16(at: number, v: number): this {
    this.view.setUint16(at, v, this.little);
    return this;
  }
  u32(at: number, v: number): this {
    this.view.setUint32(at, v, this.little);
    return this;
  }
  addr(at: number, v: bigint | number): this {
    if (this.word === 8) this.view.setBigUint64(at, BigInt(v), this.little);
    else this.view.setUint32(at, Number(v), this.little);
    return this;
  }
  text(at: number, s: string): void {
    this.bytes.set(new TextEncoder().encode(s), at);
  }
}

/** Where the builder put things, for tests that corrupt one field. */
interface Layout {
  readonly total: number;
  readonly phoff: number;
  readonly phentsize: number;
  readonly strtab: number;
  readonly strsz: number;
  readonly verneed: number;
  readonly dynamic: number;
  readonly strings: ReadonlyMap<string, number>;
  readonly w: Writer;
}

const align8 = (n: number) => Math.ceil(n / 8) * 8;

function stringOffsets(strings: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  let at = 0;
  for (const s of strings) {
    out.set(s, at);
    at += Buffer.byteLength(s) + 1;
  }
  return out;
}

/**
 * One PT_LOAD covering the whole file at `base`, then PT_INTERP and PT_DYNAMIC; .dynstr, .gnu.version_r and
 * .dynamic inside it. Needs: libc.so.6 (GLIBC_2.4, GLIBC_2.17, GLIBC_PRIVATE) and libfoo.so.1 (FOO_1.0).
 */
function buildElf(shape: Shape): Layout {
  const W = shape.is64 ? 8 : 4;
  const ehsize = shape.is64 ? 64 : 52;
  const phentsize = shape.is64 ? 56 : 32;
  const shentsize = shape.is64 ? 64 : 40;
  const phnum = shape.layout === 'segments' ? 3 : 0;
  const bulk = shape.bulk === undefined ? [] : ['a'.repeat(shape.bulk.length)];
  const strings = stringOffsets([...STRINGS, ...bulk]);
  const strsz = [...STRINGS, ...bulk].reduce((n, s) => n + Buffer.byteLength(s) + 1, 0);
  const interp = ehsize + phnum * phentsize;
  const strtab = align8(interp + INTERP.length + 1);
  const verneed = align8(strtab + strsz);
  const dynamic = verneed + 16 * 6;
  const so = (s: string) => strings.get(s) ?? assert.fail(s);
  const entries: [number, bigint | number][] = [
    [1, so('libfoo.so.1')],
    [1, so('libc.so.6')],
    [14, so('libsyn.so.2')],
    [shape.pathTag === 'runpath' ? 29 : 15, so(RUNPATH)],
    [5, shape.base + BigInt(strtab)],
    [10, strsz],
    [0x6ffffffe, shape.base + BigInt(verneed)],
    [0x6fffffff, 2],
  ];
  const bulkAt = so(bulk[0] ?? '');
  for (let i = 0; i < (shape.bulk?.count ?? 0); i++)
    entries.push([1, bulkAt + (i % (shape.bulk?.length ?? 1))]);
  entries.push([0, 0]);
  const dynsize = entries.length * 2 * W;
  const shoff = shape.layout === 'sections' ? align8(dynamic + dynsize) : 0;
  const total = shoff === 0 ? dynamic + dynsize : shoff + 4 * shentsize;
  const w = new Writer(new Uint8Array(total), shape.is64, shape.little);

  w.text(0, '\x7fELF');
  w.u8(4, shape.is64 ? 2 : 1);
  w.u8(5, shape.little ? 1 : 2);
  w.u8(6, 1);
  w.u16(16, 3);
  w.u16(18, shape.machine);
  w.u32(20, 1);
  w.addr(24 + W, phnum === 0 ? 0 : ehsize);
  w.addr(24 + 2 * W, shoff);
  w.u16(28 + 3 * W, ehsize);
  w.u16(30 + 3 * W, phentsize);
  w.u16(32 + 3 * W, phnum);
  w.u16(34 + 3 * W, shentsize);
  w.u16(36 + 3 * W, shoff === 0 ? 0 : 4);

  const phdr = (i: number, type: number, offset: number, size: number) => {
    const at = ehsize + i * phentsize;
    const [o, v, f, m] = shape.is64 ? [8, 16, 32, 40] : [4, 8, 16, 20];
    w.u32(at, type);
    w.addr(at + o, offset);
    w.addr(at + v, shape.base + BigInt(offset));
    w.addr(at + f, size);
    w.addr(at + m, size);
  };
  if (phnum > 0) {
    phdr(0, PT_LOAD, 0, total);
    phdr(1, PT_INTERP, interp, INTERP.length + 1);
    phdr(2, PT_DYNAMIC, dynamic, dynsize);
  }
  w.text(interp, INTERP);
  for (const [s, at] of strings) w.text(strtab + at, s);

  // Elf_Verneed: version, cnt, file, aux, next; Elf_Vernaux: hash, flags, other, name, next.
  const need = (at: number, file: string, names: readonly string[], last: boolean) => {
    w.u16(at, 1);
    w.u16(at + 2, names.length);
    w.u32(at + 4, so(file));
    w.u32(at + 8, 16);
    w.u32(at + 12, last ? 0 : 16 * (names.length + 1));
    names.forEach((n, i) => {
      w.u32(at + 16 * (i + 1) + 8, so(n));
      w.u32(at + 16 * (i + 1) + 12, i === names.length - 1 ? 0 : 16);
    });
  };
  need(verneed, 'libc.so.6', ['GLIBC_2.4', 'GLIBC_2.17', 'GLIBC_PRIVATE'], false);
  need(verneed + 64, 'libfoo.so.1', ['FOO_1.0'], true);

  entries.forEach(([tag, value], i) => {
    w.addr(dynamic + i * 2 * W, tag);
    w.addr(dynamic + i * 2 * W + W, value);
  });

  if (shoff !== 0) {
    // Section 0 is the null section; .dynstr and .gnu.version_r are SHF_ALLOC; .dynamic is SHT_DYNAMIC.
    const [t, f, a, o, s] = shape.is64 ? [4, 8, 16, 24, 32] : [4, 8, 12, 16, 20];
    const shdr = (i: number, type: number, offset: number, size: number) => {
      const at = shoff + i * shentsize;
      w.u32(at + t, type);
      w.addr(at + f, 2);
      w.addr(at + a, shape.base + BigInt(offset));
      w.addr(at + o, offset);
      w.addr(at + s, size);
    };
    shdr(1, 3, strtab, strsz);
    shdr(2, 0x6ffffffe, verneed, 16 * 6);
    shdr(3, 6, dynamic, dynsize);
  }
  return { total, phoff: ehsize, phentsize, strtab, strsz, verneed, dynamic, strings, w };
}

const BASE: Omit<Shape, 'is64' | 'little' | 'machine'> = {
  base: 0x400000n,
  layout: 'segments',
  pathTag: 'runpath',
};

const SHAPES: readonly (readonly [string, Shape, string])[] = [
  ['64-bit little-endian', { ...BASE, is64: true, little: true, machine: 62 }, 'x86_64'],
  ['64-bit big-endian', { ...BASE, is64: true, little: false, machine: 22 }, 's390x'],
  ['32-bit little-endian', { ...BASE, is64: false, little: true, machine: 40 }, 'arm'],
  ['32-bit big-endian', { ...BASE, is64: false, little: false, machine: 8 }, 'mips'],
  ['64-bit big-endian ppc64', { ...BASE, is64: true, little: false, machine: 21 }, 'ppc64'],
  [
    '64-bit kernel-space addresses',
    { ...BASE, base: 0xffffffff80000000n, is64: true, little: true, machine: 183 },
    'aarch64',
  ],
  ['unknown machine', { ...BASE, is64: true, little: true, machine: 0x1234 }, 'em-4660'],
];

function expected(shape: Shape, arch: string, layout: Layout): ElfInfo {
  const path = { offset: layout.strtab + (layout.strings.get(RUNPATH) ?? 0), length: RUNPATH.length };
  return {
    class: shape.is64 ? 64 : 32,
    endian: shape.little ? 'little' : 'big',
    type: 'dyn',
    arch,
    ...(shape.layout === 'segments' ? { interpreter: INTERP } : {}),
    soname: 'libsyn.so.2',
    needed: ['libfoo.so.1', 'libc.so.6'],
    runpath: shape.pathTag === 'runpath' ? ['/opt/a', '$ORIGIN/lib'] : [],
    rpath: shape.pathTag === 'rpath' ? ['/opt/a', '$ORIGIN/lib'] : [],
    versionNeeds: { 'libc.so.6': ['GLIBC_2.4', 'GLIBC_2.17', 'GLIBC_PRIVATE'], 'libfoo.so.1': ['FOO_1.0'] },
    maxGlibc: '2.17',
    runpathLocation: path,
  };
}

describe('readElf on hand-built files', () => {
  for (const [name, shape, arch] of SHAPES) {
    for (const variant of [
      shape,
      { ...shape, layout: 'sections' as const },
      { ...shape, pathTag: 'rpath' as const },
    ]) {
      it(`${name}, ${variant.layout}, ${variant.pathTag}`, () => {
        const layout = buildElf(variant);
        assert.deepEqual(readElf(layout.w.bytes), expected(variant, arch, layout));
      });
    }
  }

  it('reads a file that sits at a non-zero offset inside a larger buffer', () => {
    const layout = buildElf(SHAPES[1]?.[1] ?? assert.fail());
    const outer = new Uint8Array(layout.total + 3);
    outer.set(layout.w.bytes, 3);
    assert.deepEqual(readElf(outer.subarray(3)), readElf(layout.w.bytes));
  });
});

/** Corrupts a built file in place and returns the writer, or returns other bytes to read instead. */
type Patch = (l: Layout) => Writer | Uint8Array;

/** Entry i of the dynamic section: 0,1 NEEDED, 2 SONAME, 3 RUNPATH, 4 STRTAB, 5 STRSZ, 6 VERNEED, 7 VERNEEDNUM. */
const tagAt = (l: Layout, i: number) => l.dynamic + i * 2 * l.w.word;
const valueAt = (l: Layout, i: number) => tagAt(l, i) + l.w.word;
const phdrField = (l: Layout, i: number, field: 'offset' | 'filesz') =>
  l.phoff + i * l.phentsize + (l.w.word === 8 ? { offset: 8, filesz: 32 } : { offset: 4, filesz: 16 })[field];
const vnNext1 = (l: Layout) => l.verneed + 64 + 12;

// prettier-ignore
const INVALID: readonly (readonly [string, Patch, RegExp])[] = [
  ['unknown class', (l) => l.w.u8(4, 3), /unknown class 3/],
  ['unknown byte order', (l) => l.w.u8(5, 0), /unknown byte order 0/],
  ['shorter than its header', (l) => l.w.bytes.subarray(0, 40), /ELF header extends past the end/],
  ['program headers smaller than the format', (l) => l.w.u16(30 + 3 * l.w.word, 8), /e_phentsize 8/],
  ['program header table past the end', (l) => l.w.addr(24 + l.w.word, l.total - 10), /program header table/],
  ['segment offset beyond the file', (l) => l.w.addr(phdrField(l, 2, 'offset'), 0xfffffff0), /p_offset .* larger than the file/],
  ['PT_DYNAMIC runs past the end', (l) => l.w.addr(phdrField(l, 2, 'filesz'), l.total), /segment 2 extends past the end/],
  ['PT_LOAD larger than the file', (l) => l.w.addr(phdrField(l, 0, 'filesz'), l.total + 1), /p_filesz .* larger than the file/],
  ['PT_LOAD runs past the end', (l) => l.w.addr(phdrField(l, 0, 'offset'), 16).addr(phdrField(l, 0, 'filesz'), l.total - 8), /segment 0 extends past the end/],
  ['PT_INTERP without NUL', (l) => l.w.addr(phdrField(l, 1, 'filesz'), INTERP.length), /PT_INTERP is not NUL-terminated/],
  ['DT_STRTAB outside every PT_LOAD', (l) => l.w.addr(valueAt(l, 4), 0x1000), /DT_STRTAB address 0x1000 is not inside/],
  ['DT_STRSZ larger than the file', (l) => l.w.addr(valueAt(l, 5), l.total * 2), /DT_STRSZ/],
  ['DT_STRSZ past the segment', (l) => l.w.addr(valueAt(l, 5), l.total - l.strtab + 1), /DT_STRSZ runs past/],
  ['DT_NEEDED past the string table', (l) => l.w.addr(valueAt(l, 0), l.strsz + 5), /DT_NEEDED points past the string table/],
  ['string cut by DT_STRSZ', (l) => l.w.addr(valueAt(l, 5), (l.strings.get('libc.so.6') ?? 0) + 3), /DT_NEEDED is not NUL-terminated/],
  ['strings without DT_STRTAB', (l) => l.w.addr(tagAt(l, 4), 0x7ffffff0), /has no DT_STRTAB/],
  ['DT_VERNEED outside every PT_LOAD', (l) => l.w.addr(valueAt(l, 6), 0x10), /DT_VERNEED address/],
  ['vn_aux past the end', (l) => l.w.u32(l.verneed + 8, 0x7fffffff), /version need aux record extends past the end/],
  ['vn_next past the end', (l) => l.w.addr(valueAt(l, 7), 3).u32(vnNext1(l), 0x10000000), /version need record extends past the end/],
  ['vn_file past the string table', (l) => l.w.u32(l.verneed + 4, 0xffffff), /vn_file points past/],
  ['vna_name past the string table', (l) => l.w.u32(l.verneed + 16 + 8, 0xffffff), /vna_name points past/],
  ['DT_VERNEEDNUM larger than the file could hold', (l) => l.w.addr(valueAt(l, 7), 0xffffffff), /DT_VERNEEDNUM .* larger than the file/],
];

describe('readElf rejects corrupt files', () => {
  for (const [name, shape] of [SHAPES[0], SHAPES[3]].map((s) => s ?? assert.fail())) {
    for (const [what, patch, message] of INVALID) {
      it(`${name}: ${what}`, () => {
        const layout = buildElf(shape);
        const out = patch(layout);
        const bytes = out instanceof Writer ? out.bytes : out;
        assert.throws(
          () => readElf(bytes),
          (e: unknown) =>
            e instanceof Error && e.message.startsWith('malformed ELF: ') && message.test(e.message),
        );
      });
    }
  }

  for (const [name, shape] of SHAPES.slice(0, 4).flatMap(([n, s]) => [
    [`${n}, segments`, s] as const,
    [`${n}, sections`, { ...s, layout: 'sections' as const }] as const,
  ])) {
    it(`${name}: every truncation is rejected, never read past`, () => {
      const bytes = buildElf(shape).w.bytes;
      for (let n = 0; n < bytes.length; n++) {
        const cut = bytes.slice(0, n);
        if (n < 4) assert.equal(readElf(cut), undefined);
        else assert.throws(() => readElf(cut), /^Error: malformed ELF: /, `length ${n}`);
      }
    });
  }

  it('stops a file whose DT_NEEDED entries all point into one long string', () => {
    const layout = buildElf({
      ...BASE,
      is64: true,
      little: true,
      machine: 62,
      bulk: { length: 50_000, count: 20_000 },
    });
    const started = performance.now();
    assert.throws(() => readElf(layout.w.bytes), /DT_NEEDED refers to more data than the file holds/);
    assert.ok(performance.now() - started < 2000, 'the budget stops the walk early');
  });

  it('accepts a file whose DT_NEEDED entries share strings, as linkers do', () => {
    const layout = buildElf({
      ...BASE,
      is64: true,
      little: true,
      machine: 62,
      bulk: { length: 20, count: 2_000 },
    });
    assert.equal(readElf(layout.w.bytes)?.needed.length, 2_002);
  });
});

/** Deterministic PRNG (mulberry32), so a failing fuzz case can be replayed from its seed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Either a result or the reader's own error: never a RangeError, TypeError or hang. */
function assertParsesOrRejects(bytes: Uint8Array, label: string): void {
  try {
    readElf(bytes);
  } catch (e) {
    assert.ok(e instanceof Error && e.message.startsWith('malformed ELF: '), `${label}: ${String(e)}`);
  }
}

describe('readElf on random corruption', () => {
  for (const [name, shape] of SHAPES.slice(0, 4)) {
    it(`${name}: 2000 random byte changes`, { timeout: 20_000 }, () => {
      const next = random(shape.machine);
      const clean = buildElf(shape).w.bytes;
      for (let i = 0; i < 2000; i++) {
        const bytes = clean.slice();
        for (let k = 0; k < 1 + Math.floor(next() * 4); k++)
          bytes[Math.floor(next() * bytes.length)] = Math.floor(next() * 256);
        assertParsesOrRejects(bytes, `${name} case ${i}`);
      }
    });
  }
});

describe('isElf', () => {
  const rows: readonly (readonly [string, Uint8Array, boolean])[] = [
    ['empty', new Uint8Array(), false],
    ['three magic bytes', new Uint8Array([0x7f, 0x45, 0x4c]), false],
    ['text', new TextEncoder().encode('#!/bin/sh\necho hi\n'), false],
    ['magic only', new Uint8Array([0x7f, 0x45, 0x4c, 0x46]), true],
  ];
  for (const [name, bytes, want] of rows) {
    it(name, () => {
      assert.equal(isElf(bytes), want);
      if (!want) assert.equal(readElf(bytes), undefined);
      else assert.throws(() => readElf(bytes), /malformed ELF/);
    });
  }
});
