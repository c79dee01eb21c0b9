/**
 * The only error the reader throws for bad input. Its message always starts with `malformed ELF:` so callers
 * (and tests) can tell corrupt files from bugs.
 */
export function malformed(what: string): Error {
  return new Error(`malformed ELF: ${what}`);
}

/** A byte range of the file: `offset` and `end` are file offsets, `end` exclusive. */
export interface FileRange {
  readonly offset: number;
  readonly end: number;
}

const utf8 = new TextDecoder('utf-8');

/**
 * Bounds-checked reads over an ELF file. Every read returns data inside the buffer or throws `malformed`, so the
 * parsers built on it never see a RangeError and never read past the end, whatever the input claims.
 *
 * The work budget bounds the total number of records and string bytes a parse may visit. A well-formed file
 * visits each record once, so a few times its size is plenty; without the budget, crafted tables that point many
 * entries at the same long string or record chain would make a small file cost quadratic time and memory.
 */
export class ElfBytes {
  readonly bytes: Uint8Array;
  readonly is64: boolean;
  readonly little: boolean;
  /** Width of an address or offset field: 4 or 8. */
  readonly word: 4 | 8;
  private readonly view: DataView;
  private budget: number;

  constructor(bytes: Uint8Array, is64: boolean, little: boolean) {
    this.bytes = bytes;
    this.is64 = is64;
    this.little = little;
    this.word = is64 ? 8 : 4;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.budget = 4 * bytes.length + 65536;
  }

  get length(): number {
    return this.bytes.length;
  }

  /** Throws unless [offset, offset + size) lies inside the file. */
  check(offset: number, size: number, what: string): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(size) || offset < 0 || size < 0)
      throw malformed(`${what} is out of range`);
    if (offset + size > this.length) throw malformed(`${what} extends past the end of the file`);
  }

  /** Charges `units` against the work budget (see the class comment). */
  spend(units: number, what: string): void {
    this.budget -= units;
    if (this.budget < 0) throw malformed(`${what} refers to more data than the file holds`);
  }

  u8(offset: number, what: string): number {
    this.check(offset, 1, what);
    return this.view.getUint8(offset);
  }

  u16(offset: number, what: string): number {
    this.check(offset, 2, what);
    return this.view.getUint16(offset, this.little);
  }

  u32(offset: number, what: string): number {
    this.check(offset, 4, what);
    return this.view.getUint32(offset, this.little);
  }

  /** An unsigned address-width field. Addresses stay bigint: kernel images use addresses above 2^53. */
  addr(offset: number, what: string): bigint {
    this.check(offset, this.word, what);
    return this.is64
      ? this.view.getBigUint64(offset, this.little)
      : BigInt(this.view.getUint32(offset, this.little));
  }

  /** A signed address-width field (a dynamic tag). Tags we look for are small, so precision loss cannot matter. */
  signed(offset: number, what: string): number {
    this.check(offset, this.word, what);
    return this.is64
      ? Number(this.view.getBigInt64(offset, this.little))
      : this.view.getInt32(offset, this.little);
  }

  /** An address-width field holding a file offset or size, which can never exceed the file's length. */
  size(offset: number, what: string): number {
    return this.toSize(this.addr(offset, what), what);
  }

  toSize(value: bigint, what: string): number {
    if (value > BigInt(this.length)) throw malformed(`${what} (${value}) is larger than the file`);
    return Number(value);
  }

  /** The NUL-terminated string starting at `offset`, which must end before `end`. */
  cstring(offset: number, end: number, what: string): { readonly text: string; readonly length: number } {
    this.check(offset, 0, what);
    const stop = Math.min(end, this.length);
    const nul = this.bytes.subarray(0, stop).indexOf(0, offset);
    if (nul === -1 || offset >= stop) throw malformed(`${what} is not NUL-terminated`);
    this.spend(nul - offset + 1, what);
    return { text: utf8.decode(this.bytes.subarray(offset, nul)), length: nul - offset };
  }
}
