/**
 * Safe extraction of binary-package archives. Archives from caches are attacker-controlled, so extraction never
 * writes through a symbolic link, never leaves the target directory, refuses every entry kind but files,
 * directories and symlinks, and stops at size limits while decompressing. The tar format itself (headers, pax
 * records, name rules) is in tar.ts; writing archives is in archive.ts.
 *
 * The reader is pushed the decompressed bytes and does everything for them before it returns: no promise per
 * entry. A package is thousands of small files, and one await per header, per file and per padding cost more
 * than creating the files.
 */
import { createHash, hash as hashOnce, type Hash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  lstatSync,
  mkdirSync,
  openSync,
  statSync,
  symlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { AppError, assert, isAppError, isErrno, isSystemError, type Sha256 } from '../core/index.js';
import { readPieces, removeTree } from '../platform/index.js';
import { Gunzip, inflateInPlace } from './gunzip.js';
import {
  BLOCK,
  decodeHeader,
  entryKind,
  isZero,
  normalizeEntryPath,
  padding,
  parsePax,
  symlinkEscape,
  type TarHeader,
} from './tar.js';

export type ArchiveEntryKind = 'file' | 'dir' | 'symlink';

export interface ArchiveEntry {
  /** Relative to the archive root, '/'-separated, normalised (no './', no trailing '/'). */
  readonly path: string;
  readonly kind: ArchiveEntryKind;
  /** Permission bits as extracted (see extractArchive); 0o777 for symlinks. */
  readonly mode: number;
  /** Bytes of data; 0 for directories and symlinks. */
  readonly size: number;
  readonly linkTarget?: string;
}

export interface ExtractedFile extends ArchiveEntry {
  /** Files only: the sha256 of the bytes written, computed while writing them. */
  readonly sha256?: Sha256;
}

export interface ExtractLimits {
  /** Entries (files, directories, symlinks) in one archive. */
  readonly maxEntries: number;
  /** Bytes of file data in one archive, after decompression. */
  readonly maxTotalBytes: number;
  /** Bytes of one file. */
  readonly maxFileBytes: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/**
 * Generous enough for any real package (a full toolchain is ~100k entries and a few GiB), small enough that a
 * hostile archive cannot fill a disk or exhaust inodes before it is stopped.
 */
export const defaultLimits: ExtractLimits = {
  maxEntries: 1_000_000,
  maxTotalBytes: 64 * GiB,
  maxFileBytes: 16 * GiB,
};

/** A pax or GNU long-name body larger than this is refused: no path needs it, and it is held in memory. */
const MAX_META_BYTES = 1 * MiB;
/** Metadata headers in a row before an entry: pax 'x', 'L' and 'K' together need three at most. */
const MAX_META_RUN = 8;
/** Zero padding accepted after the end-of-archive marker (GNU tar pads to 10 KiB records). */
const MAX_TRAILER_BYTES = 1 * MiB;
/** Pieces handed to the decompressor (stream mode, see decompressInto). */
const CHUNK = 1 * MiB;

const HINT: Readonly<Record<'E_ARCHIVE_UNSAFE' | 'E_ARCHIVE_LIMIT' | 'E_ARCHIVE_CORRUPT', string>> = {
  E_ARCHIVE_UNSAFE: 'do not use the archive; rebuild or re-download it from a trusted source',
  E_ARCHIVE_LIMIT: 'if the package is genuinely that large, raise the limit the message names',
  E_ARCHIVE_CORRUPT: 'download it again; if it persists, the cache holds a damaged file',
};

/**
 * Extract a .tar.gz (or plain tar) from a path, a stream or an iterable of bytes into `targetDir`, which
 * must not exist: it is created, and on any error removed completely before the error is rethrown.
 *
 * Refused (E_ARCHIVE_UNSAFE): absolute names, '..' components, NUL bytes, repeated paths, paths through a
 * symlink, symlinks that are absolute or lead out of the target (also by way of other links), hard links,
 * devices, FIFOs and unknown types. Files are created with O_EXCL|O_NOFOLLOW, so nothing is ever written
 * through a link. Modes keep only rwx bits without group/other write (setuid, setgid, sticky dropped), plus
 * owner rw for files and owner rwx for directories; owners, times and extended attributes are not restored.
 *
 * Limits (E_ARCHIVE_LIMIT) meet the declared sizes before anything is written, and the bytes actually
 * decompressed are counted, so a decompression bomb stops early. A stream is paused at once and then read to
 * its very end, so a caller may hash it with a 'data' listener; an extraction error destroys it.
 *
 * With `gzipCrc: false`, gzip's CRC-32 is not checked (gunzip.ts): for a caller that checks every file's hash.
 *
 * With `readOnly`, write bits are cleared from files as they are written and from directories at the end (not
 * from the target itself): the tree is as the store keeps it, without a second pass over it.
 *
 * Returns every entry in archive order (not the archive root "./"); files carry the sha256 of what was
 * written.
 */
export async function extractArchive(
  input: string | NodeJS.ReadableStream | AsyncIterable<Buffer> | Iterable<Buffer>,
  targetDir: string,
  opts: { limits?: Partial<ExtractLimits>; label?: string; readOnly?: boolean; gzipCrc?: boolean } = {},
): Promise<ExtractedFile[]> {
  // Paused before the first await: with a 'data' listener on it (a caller hashing the download), a flowing
  // stream would otherwise pass chunks to that listener that extraction never sees.
  if (typeof input !== 'string' && 'pause' in input) input.pause();
  const label = opts.label ?? (typeof input === 'string' ? input : 'archive');
  const limits = { ...defaultLimits, ...opts.limits };
  for (const [k, v] of Object.entries(limits)) assert(v >= 0, `extract limit ${k} is ${v}`);
  const umask = makeTarget(targetDir);
  const reader = new TarReader({ root: targetDir, label, limits, readOnly: opts.readOnly === true, umask });
  try {
    await decompressInto(
      typeof input === 'string' ? readPieces(input) : input,
      reader,
      opts.gzipCrc !== false,
    );
    return reader.finish();
  } catch (e) {
    reader.abort();
    await removeTree(targetDir);
    throw asArchiveError(e, reader.st);
  }
}

/** Makes the target directory, and returns the process's umask, as seen on it. Synchronous: a few µs each. */
function makeTarget(dir: string): number {
  mkdirSync(dirname(dir), { recursive: true });
  try {
    mkdirSync(dir, 0o777);
  } catch (e) {
    if (isErrno(e, 'EEXIST'))
      throw new Error(`Assertion failed: extraction target ${dir} exists`, { cause: e });
    throw e;
  }
  const umask = 0o777 & ~statSync(dir).mode;
  chmodSync(dir, 0o755);
  return umask;
}

function asArchiveError(e: unknown, st: ExtractState): unknown {
  if (isAppError(e)) return e;
  const code = e instanceof Error && 'code' in e ? String(e.code) : '';
  // A write's error names no file (ENOSPC, EIO): the target directory says where.
  if (isSystemError(e)) e.path ??= st.root;
  if (code.startsWith('Z_'))
    return failArchive('E_ARCHIVE_CORRUPT', st, `is not valid gzip data (${(e as Error).message})`, {
      cause: e,
    });
  return e;
}

/**
 * Feed the decompressed bytes of `input` to the reader. Gzip is recognised by its magic bytes; anything else is
 * read as plain tar. The peeked bytes are passed on, not pushed back into the stream, so a listener on the
 * caller's stream sees every byte exactly once.
 */
async function decompressInto(
  input: NodeJS.ReadableStream | AsyncIterable<Buffer> | Iterable<Buffer>,
  reader: TarReader,
  crc: boolean,
): Promise<void> {
  const it = Symbol.asyncIterator in input ? input[Symbol.asyncIterator]() : input[Symbol.iterator]();
  let start: Buffer = Buffer.alloc(0);
  while (start.length < 2) {
    const r = await it.next();
    if (r.done === true) break;
    const chunk = asBuffer(r.value);
    // A piece of a reused buffer (readPieces) is kept as is only if it is used before the next is read.
    start = start.length === 0 && chunk.length >= 2 ? chunk : Buffer.concat([start, chunk]);
  }
  const gzip = start[0] === 0x1f && start[1] === 0x8b;
  const source = prepend(start, it);
  if (gzip && inflateInPlace()) await gunzipInto(source, reader, crc);
  // The stream inflates a piece after write() returns; a source may reuse its buffer (readPieces) by then.
  else if (gzip) await pipeline(copies(source), createGunzip({ chunkSize: CHUNK }), pushAll(reader));
  else await pipeline(source, pushAll(reader));
}

async function* copies(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  for await (const chunk of source) yield Buffer.from(chunk);
}

/** Inflates on this thread, one piece of input at a time, into a buffer the reader uses before the next. */
async function gunzipInto(source: AsyncIterable<Buffer>, reader: TarReader, crc: boolean): Promise<void> {
  const gunzip = new Gunzip({ crc });
  const push = (piece: Buffer) => {
    reader.push(piece);
  };
  try {
    for await (const chunk of source) gunzip.push(chunk, push);
    gunzip.end(push);
    reader.end();
  } finally {
    gunzip.close();
  }
}

function pushAll(reader: TarReader): (data: AsyncIterable<Buffer>) => Promise<void> {
  return async (data) => {
    for await (const chunk of data) reader.push(chunk);
    reader.end();
  };
}

function asBuffer(chunk: unknown): Buffer {
  assert(Buffer.isBuffer(chunk), 'archive input stream yields bytes, not strings (no setEncoding)');
  return chunk;
}

async function* prepend(
  head: Buffer,
  rest: AsyncIterator<unknown> | Iterator<unknown>,
): AsyncGenerator<Buffer> {
  try {
    if (head.length > 0) yield head;
    for (let r = await rest.next(); r.done !== true; r = await rest.next()) yield asBuffer(r.value);
  } finally {
    await rest.return?.();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Errors

interface ExtractState {
  readonly root: string;
  readonly label: string;
  readonly limits: ExtractLimits;
  readonly out: ExtractedFile[];
  /** Normalised paths of every entry so far, to refuse repeats. */
  readonly seen: Set<string>;
  /**
   * Known real directories (made here or lstat-ed once) and their modes; nothing is removed or renamed, so
   * they stay so.
   */
  readonly dirs: Map<string, number>;
  /** Clear write bits (ExtractOptions.readOnly). */
  readonly readOnly: boolean;
  /** Bits the process's umask takes from a mode given to open or mkdir: then a chmod must put them back. */
  readonly umask: number;
  /** Symlinks made so far: path → target. */
  readonly links: Map<string, string>;
  /** The entry being read, for messages. */
  current: string | undefined;
  entries: number;
  headers: number;
  /** Declared file sizes plus metadata bodies: what the decompressed stream may hold besides headers. */
  declared: number;
  inflated: number;
}

type ArchiveCode = keyof typeof HINT;

interface FailOptions {
  readonly cause?: unknown;
  readonly hint?: string;
}

const FIXED_LIMIT_HINT = 'no real package comes near this fixed limit; do not use the archive';

/** A problem with the entry being read: `<label>: entry "<path>" <reason>`. */
function fail(code: ArchiveCode, st: ExtractState, reason: string, o: FailOptions = {}): AppError {
  if (st.current === undefined) return failArchive(code, st, reason, o);
  return archiveError(code, st, `entry ${JSON.stringify(st.current)} ${reason}`, o);
}

/** A problem with the archive's structure: `<label>: the archive <reason> (last entry: "<path>")`. */
function failArchive(code: ArchiveCode, st: ExtractState, reason: string, o: FailOptions = {}): AppError {
  const last = st.current === undefined ? '' : ` (last entry: ${JSON.stringify(st.current)})`;
  return archiveError(code, st, `the archive ${reason}${last}`, o);
}

function archiveError(code: ArchiveCode, st: ExtractState, text: string, o: FailOptions): AppError {
  return new AppError(code, `${st.label}: ${text}`, {
    hint: o.hint ?? HINT[code],
    cause: o.cause,
    details: { archive: st.label, ...(st.current === undefined ? {} : { entry: st.current }) },
  });
}

/** EEXIST and ELOOP can only mean the archive aimed an entry at something an earlier entry made. */
function mapCreateError(e: unknown, st: ExtractState): unknown {
  if (isErrno(e, 'EEXIST') || isErrno(e, 'ELOOP'))
    return fail('E_ARCHIVE_UNSAFE', st, 'collides with an earlier entry', { cause: e });
  if (isErrno(e, 'ENAMETOOLONG'))
    return fail('E_ARCHIVE_UNSAFE', st, 'has a name too long for this file system', { cause: e });
  return e;
}

// ---------------------------------------------------------------------------------------------------------
// The reader: decompressed bytes in, entries out

/** Overrides from pax 'x' and GNU 'L'/'K' headers for the next entry. */
interface Meta {
  readonly path?: string;
  readonly linkpath?: string;
  readonly size?: number;
}

interface Planned {
  readonly path: string;
  readonly kind: ArchiveEntryKind;
  readonly mode: number;
  readonly size: number;
  readonly linkTarget: string;
}

/** A file being written: its data arrives over as many pushes as it spans. */
interface OpenFile {
  readonly entry: Planned;
  /** The mode it gets once written. */
  readonly mode: number;
  readonly fd: number;
  /** Made for a file whose data spans pieces; one that comes in one piece is hashed at once (sha256). */
  hash: Hash | undefined;
  sha256: string | undefined;
  left: number;
}

/**
 * The sha256 of bytes in hand, in one call where Node has crypto.hash (20.12 and later): making a Hash object
 * cost ~17 µs per file, more than hashing most of them.
 */
function sha256Of(bytes: Buffer): string {
  return typeof hashOnce === 'function'
    ? hashOnce('sha256', bytes, 'hex')
    : createHash('sha256').update(bytes).digest('hex');
}

/** What the bytes being collected are: a header, a metadata body (of `metaHeader`), or padding to skip. */
type Collecting = 'header' | 'meta' | 'padding';

const META_TYPES: ReadonlySet<string> = new Set(['x', 'g', 'L', 'K']);

class TarReader {
  readonly st: ExtractState;
  #collecting: Collecting = 'header';
  /** Bytes wanted for what is being collected, and those collected so far. */
  #need = BLOCK;
  #parts: Buffer[] = [];
  #have = 0;
  #metaHeader: TarHeader | undefined;
  #meta: Meta = {};
  #metaRun = 0;
  #file: OpenFile | undefined;
  /** After the first zero block: only zero padding may follow. */
  #ended = false;

  constructor(o: Pick<ExtractState, 'root' | 'label' | 'limits' | 'readOnly' | 'umask'>) {
    this.st = {
      ...o,
      out: [],
      seen: new Set(),
      dirs: new Map([['', 0o755]]),
      links: new Map(),
      current: undefined,
      entries: 0,
      headers: 0,
      declared: 0,
      inflated: 0,
    };
  }

  /** Everything `chunk` holds is acted on before this returns; what must wait for more bytes is copied. */
  push(chunk: Buffer): void {
    try {
      for (let off = 0; off < chunk.length;) {
        if (this.#file !== undefined) off += this.#writeData(this.#file, chunk, off);
        else if (this.#ended) off = this.#trailer(chunk, off);
        else off += this.#collect(chunk, off);
      }
    } catch (e) {
      throw mapCreateError(e, this.st);
    }
  }

  /** The input ended: anything unfinished means a truncated archive. */
  end(): void {
    const st = this.st;
    if (this.#file !== undefined) {
      const { size } = this.#file.entry;
      throw fail('E_ARCHIVE_CORRUPT', st, `is truncated (${size - this.#file.left} of ${size} bytes)`);
    }
    if (this.#ended) return;
    if (this.#collecting !== 'header') throw failArchive('E_ARCHIVE_CORRUPT', st, 'is truncated');
    if (this.#have > 0) throw failArchive('E_ARCHIVE_CORRUPT', st, 'is truncated in a header');
    throw failArchive('E_ARCHIVE_CORRUPT', st, 'ends without an end-of-archive marker');
  }

  /** Links checked one by one saw only earlier links; a later link can make an earlier one escape. */
  finish(): ExtractedFile[] {
    const st = this.st;
    st.current = undefined;
    for (const [path, target] of st.links) {
      const why = symlinkEscape(path, target, st.links);
      if (why === undefined) continue;
      st.current = path;
      throw fail('E_ARCHIVE_UNSAFE', st, why);
    }
    if (st.readOnly)
      for (const [path, mode] of st.dirs) if (path !== '') chmodSync(join(st.root, path), mode & ~0o222);
    return st.out;
  }

  /** Close the file being written, if any (the caller removes the tree). */
  abort(): void {
    if (this.#file === undefined) return;
    closeSync(this.#file.fd);
    this.#file = undefined;
  }

  /**
   * Every decompressed byte must be a header, declared data, block padding or the short trailer. This stops a
   * bomb that declares little and inflates to a lot (zeros after the end-of-archive marker) after about 1 MiB,
   * and backs up the per-entry checks; declared sizes meet the limits before any of their data is written.
   * Bytes are counted as they are consumed, so the count does not depend on how the input is chunked.
   */
  #consume(n: number): void {
    const st = this.st;
    st.inflated += n;
    const allowed = st.declared + 2 * BLOCK * (st.headers + 2) + MAX_TRAILER_BYTES;
    if (st.inflated > allowed)
      throw failArchive(
        'E_ARCHIVE_LIMIT',
        st,
        `decompresses to more than its headers and sizes account for (${st.inflated} bytes, ` +
          `${st.headers} headers, ${st.declared} bytes declared): the shape of a decompression bomb`,
        { hint: FIXED_LIMIT_HINT },
      );
  }

  /** Takes bytes toward what is being collected; acts on it once complete. Returns the bytes taken. */
  #collect(chunk: Buffer, off: number): number {
    const n = Math.min(this.#need - this.#have, chunk.length - off);
    this.#consume(n);
    const piece = chunk.subarray(off, off + n);
    // A part kept until a later push is copied: the caller may reuse the chunk's memory (gunzip.ts).
    this.#parts.push(this.#have + n < this.#need ? Buffer.from(piece) : piece);
    this.#have += n;
    if (this.#have === this.#need) {
      const [first] = this.#parts;
      const bytes = this.#parts.length === 1 && first !== undefined ? first : Buffer.concat(this.#parts);
      this.#parts = [];
      this.#have = 0;
      this.#collected(bytes);
    }
    return n;
  }

  #expect(what: Collecting, n: number): void {
    this.#collecting = what;
    this.#need = n;
    if (n === 0) this.#collected(Buffer.alloc(0));
  }

  #collected(bytes: Buffer): void {
    if (this.#collecting === 'padding') this.#expect('header', BLOCK);
    else if (this.#collecting === 'meta') this.#metaBody(bytes);
    else this.#header(bytes);
  }

  #header(block: Buffer): void {
    const st = this.st;
    st.headers++;
    const d = decodeHeader(block);
    if (d.kind === 'bad') throw failArchive('E_ARCHIVE_CORRUPT', st, `has a bad header: ${d.reason}`);
    if (d.kind === 'zero') {
      if (this.#metaRun > 0)
        throw failArchive('E_ARCHIVE_CORRUPT', st, 'has a pax or long-name header with no entry after it');
      this.#ended = true;
      st.current = undefined;
      return;
    }
    const h = d.header;
    if (META_TYPES.has(h.type)) {
      this.#metaStart(h);
      return;
    }
    const meta = this.#meta;
    this.#meta = {};
    this.#metaRun = 0;
    this.#entry(h, meta);
  }

  #metaStart(h: TarHeader): void {
    const st = this.st;
    if (++this.#metaRun > MAX_META_RUN)
      throw failArchive('E_ARCHIVE_CORRUPT', st, `has more than ${MAX_META_RUN} metadata headers in a row`);
    if (h.size > MAX_META_BYTES)
      throw failArchive(
        'E_ARCHIVE_LIMIT',
        st,
        `has a ${h.size}-byte metadata header (type ${JSON.stringify(h.type)}), ` +
          `over the fixed limit of ${MAX_META_BYTES}`,
        { hint: FIXED_LIMIT_HINT },
      );
    st.declared += h.size;
    this.#metaHeader = h;
    this.#expect('meta', h.size);
  }

  #metaBody(body: Buffer): void {
    const h = this.#metaHeader;
    assert(h !== undefined, 'a metadata body follows its header');
    this.#meta = applyMeta(h, body, this.st, this.#meta);
    this.#expect('padding', padding(h.size));
  }

  #entry(h: TarHeader, meta: Meta): void {
    const st = this.st;
    const e = planEntry(st, h, meta);
    if (e === undefined) {
      this.#expect('header', BLOCK);
      return;
    }
    const abs = join(st.root, e.path);
    ensureParents(st, e.path);
    if (e.kind === 'dir') makeDir(st, e, abs);
    else if (e.kind === 'symlink') makeLink(st, e, abs);
    else {
      this.#file = openFile(st, e, abs);
      if (e.size === 0) this.#closeFile(this.#file);
      return;
    }
    this.#expect('header', BLOCK);
  }

  /** Writes and hashes the part of `chunk` that belongs to the open file. Returns the bytes taken. */
  #writeData(f: OpenFile, chunk: Buffer, off: number): number {
    const n = Math.min(f.left, chunk.length - off);
    this.#consume(n);
    const piece = chunk.subarray(off, off + n);
    if (f.hash === undefined && n === f.entry.size) f.sha256 = sha256Of(piece);
    else (f.hash ??= createHash('sha256')).update(piece);
    for (let at = 0; at < n;) at += writeSync(f.fd, piece, at, n - at);
    f.left -= n;
    if (f.left === 0) this.#closeFile(f);
    return n;
  }

  #closeFile(f: OpenFile): void {
    this.#file = undefined;
    try {
      if ((f.mode & this.st.umask) !== 0) fchmodSync(f.fd, f.mode);
    } finally {
      closeSync(f.fd);
    }
    const { path, size } = f.entry;
    const sha256 = f.sha256 ?? f.hash?.digest('hex') ?? sha256Of(Buffer.alloc(0));
    this.st.out.push({ path, kind: 'file', mode: f.mode, size, sha256: sha256 as Sha256 });
    this.#expect('padding', padding(size));
  }

  /**
   * After the first zero block: nothing but zero padding (the second zero block, then the rest of the last
   * record). Its length is bounded by #consume, which allows MAX_TRAILER_BYTES for it.
   */
  #trailer(chunk: Buffer, off: number): number {
    const piece = chunk.subarray(off);
    this.#consume(piece.length);
    if (!isZero(piece))
      throw failArchive('E_ARCHIVE_CORRUPT', this.st, 'has data after its end-of-archive marker');
    return chunk.length;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Metadata headers

function applyMeta(h: TarHeader, body: Buffer, st: ExtractState, meta: Meta): Meta {
  if (h.type === 'L' || h.type === 'K') {
    const name = longName(body, st);
    return h.type === 'L' ? { ...meta, path: name } : { ...meta, linkpath: name };
  }
  const pax = parsePax(body);
  if (pax.kind === 'bad') throw failArchive('E_ARCHIVE_CORRUPT', st, `has a bad pax header: ${pax.reason}`);
  return h.type === 'g' ? checkGlobalPax(pax.records, st, meta) : applyPax(pax.records, st, meta);
}

function longName(body: Buffer, st: ExtractState): string {
  let end = body.length;
  while (end > 0 && body[end - 1] === 0) end--;
  const name = body.toString('utf8', 0, end);
  if (!Buffer.from(name, 'utf8').equals(body.subarray(0, end)))
    throw failArchive('E_ARCHIVE_CORRUPT', st, 'has a GNU long name that is not UTF-8');
  return name;
}

function applyPax(records: ReadonlyMap<string, string>, st: ExtractState, meta: Meta): Meta {
  let out = meta;
  for (const [key, value] of records) {
    if (key === 'path') out = { ...out, path: value };
    else if (key === 'linkpath') out = { ...out, linkpath: value };
    else if (key === 'size') out = { ...out, size: paxSize(value, st) };
    else if (key.startsWith('GNU.sparse.'))
      throw failArchive('E_ARCHIVE_UNSAFE', st, 'has a GNU sparse file, which ferry does not extract');
  }
  return out;
}

function paxSize(value: string, st: ExtractState): number {
  const size = /^[0-9]{1,16}$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(size))
    throw failArchive('E_ARCHIVE_CORRUPT', st, `has a bad pax size ${JSON.stringify(value)}`);
  return size;
}

/** A global header applies to all later entries: one that renames or resizes them is refused. */
function checkGlobalPax(records: ReadonlyMap<string, string>, st: ExtractState, meta: Meta): Meta {
  for (const key of records.keys())
    if (key === 'path' || key === 'linkpath' || key === 'size' || key.startsWith('GNU.sparse.'))
      throw failArchive(
        'E_ARCHIVE_UNSAFE',
        st,
        `has a global pax header that sets ${JSON.stringify(key)} for all entries`,
      );
  return meta;
}

// ---------------------------------------------------------------------------------------------------------
// Entries out

/** Validate one entry against every rule that needs no I/O; undefined for the archive root ("./"). */
function planEntry(st: ExtractState, h: TarHeader, meta: Meta): Planned | undefined {
  st.current = meta.path ?? h.name;
  if (++st.entries > st.limits.maxEntries)
    throw fail('E_ARCHIVE_LIMIT', st, `is past the entry-count limit maxEntries = ${st.limits.maxEntries}`);
  const norm = normalizeEntryPath(st.current);
  if (!norm.ok) throw fail('E_ARCHIVE_UNSAFE', st, norm.reason);
  if (norm.path !== '') st.current = norm.path;
  const linkTarget = meta.linkpath ?? h.linkname;
  const kind = allowedKind(st, h, linkTarget);
  const size = meta.size ?? h.size;
  if (kind !== 'file' && size !== 0)
    throw fail('E_ARCHIVE_CORRUPT', st, `is a ${kind} with ${size} bytes of data`);
  if (norm.path === '') {
    if (kind === 'dir') return undefined;
    throw fail('E_ARCHIVE_UNSAFE', st, 'names the target directory itself');
  }
  if (st.seen.has(norm.path))
    throw fail('E_ARCHIVE_UNSAFE', st, 'appears twice; a second entry could replace a checked one');
  st.seen.add(norm.path);
  return { path: norm.path, kind, mode: modeFor(kind, h.mode), size, linkTarget };
}

function allowedKind(st: ExtractState, h: TarHeader, linkTarget: string): ArchiveEntryKind {
  const kind = entryKind(h.type);
  if (kind.ok) return kind.kind;
  const to = h.type === '1' ? ` (it links to ${JSON.stringify(linkTarget)})` : '';
  throw fail('E_ARCHIVE_UNSAFE', st, kind.reason + to);
}

/** rwx bits only, never group/other write; the owner can always read and write what it extracted. */
function modeFor(kind: ArchiveEntryKind, mode: number): number {
  if (kind === 'symlink') return 0o777;
  return (mode & 0o755) | (kind === 'dir' ? 0o700 : 0o600);
}

// The per-entry calls below are synchronous on purpose: each is a few microseconds, while a trip through
// libuv's thread pool costs tens; with thousands of small files per package that is most of an install.

/** Create missing parents; a parent that exists must be a real directory, never a symlink. */
function ensureParents(st: ExtractState, path: string): void {
  for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
    const rel = path.slice(0, i);
    if (st.dirs.has(rel)) continue;
    const abs = join(st.root, rel);
    const found = lstatIfExists(abs);
    if (found?.isSymbolicLink() === true)
      throw fail('E_ARCHIVE_UNSAFE', st, `goes through the symbolic link ${JSON.stringify(rel)}`);
    if (found !== undefined && !found.isDirectory())
      throw fail('E_ARCHIVE_UNSAFE', st, `goes through ${JSON.stringify(rel)}, which is not a directory`);
    if (found === undefined) {
      mkdirSync(abs, 0o755);
      if ((0o755 & st.umask) !== 0) chmodSync(abs, 0o755);
    }
    st.dirs.set(rel, found === undefined ? 0o755 : found.mode & 0o7777);
  }
}

function lstatIfExists(abs: string): Stats | undefined {
  try {
    return lstatSync(abs);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return undefined;
    throw e;
  }
}

/** A directory entry may come after its contents made it implicitly; then only its mode is applied. */
function makeDir(st: ExtractState, e: Planned, abs: string): void {
  const had = st.dirs.get(e.path);
  if (had === undefined) mkdirSync(abs, e.mode);
  if (had === undefined ? (e.mode & st.umask) !== 0 : had !== e.mode) chmodSync(abs, e.mode);
  st.dirs.set(e.path, e.mode);
  st.out.push({ path: e.path, kind: 'dir', mode: e.mode, size: 0 });
}

function makeLink(st: ExtractState, e: Planned, abs: string): void {
  const why = symlinkEscape(e.path, e.linkTarget, st.links);
  if (why !== undefined) throw fail('E_ARCHIVE_UNSAFE', st, why);
  symlinkSync(e.linkTarget, abs);
  st.links.set(e.path, e.linkTarget);
  st.out.push({ path: e.path, kind: 'symlink', mode: e.mode, size: 0, linkTarget: e.linkTarget });
}

/** Limits are checked on the declared size before the file is created; its data is written as it arrives. */
function openFile(st: ExtractState, e: Planned, abs: string): OpenFile {
  const { maxFileBytes, maxTotalBytes } = st.limits;
  if (e.size > maxFileBytes)
    throw fail(
      'E_ARCHIVE_LIMIT',
      st,
      `is ${e.size} bytes, over the per-file limit maxFileBytes = ${maxFileBytes}`,
    );
  if (st.declared + e.size > maxTotalBytes)
    throw fail(
      'E_ARCHIVE_LIMIT',
      st,
      `brings file data past the total-size limit maxTotalBytes = ${maxTotalBytes}`,
    );
  st.declared += e.size;
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  // Created with its final mode: this open may write it even when that mode has no write bit.
  const mode = st.readOnly ? e.mode & ~0o222 : e.mode;
  return { entry: e, mode, fd: openSync(abs, flags, mode), hash: undefined, sha256: undefined, left: e.size };
}
