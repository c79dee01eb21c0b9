/**
 * Binary-package archives: a deterministic .tar.gz writer and a safe extractor. Archives from caches are
 * attacker-controlled, so extraction never writes through a symbolic link, never leaves the target directory,
 * refuses every entry kind but files, directories and symlinks, and stops at size limits while decompressing.
 * The tar format itself (headers, pax records, name rules) is in tar.ts.
 */
import { createHash } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants,
  createReadStream,
  fchmodSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  symlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import * as fs from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { AppError, assert, isAppError, isErrno, type Sha256 } from '../core/index.js';
import { fsyncDir, removeTree, tempSibling, walkTree, type TreeEntry } from '../platform/index.js';
import {
  BLOCK,
  decodeHeader,
  END_OF_ARCHIVE,
  encodeEntry,
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
const READ_CHUNK = 1 * MiB;

const HINT: Readonly<Record<'E_ARCHIVE_UNSAFE' | 'E_ARCHIVE_LIMIT' | 'E_ARCHIVE_CORRUPT', string>> = {
  E_ARCHIVE_UNSAFE: 'do not use the archive; rebuild or re-download it from a trusted source',
  E_ARCHIVE_LIMIT: 'if the package is genuinely that large, raise the limit the message names',
  E_ARCHIVE_CORRUPT: 'download it again; if it persists, the cache holds a damaged file',
};

// =========================================================================================================
// Writing

/**
 * Write a deterministic .tar.gz of the tree under `srcDir`: entries sorted (a directory before its
 * contents), mtime `opts.mtime` (seconds, default 0), owner 0:0 with empty names, mode 0755 for directories
 * and for files with any execute bit, 0644 for other files, symlinks as links. Files are streamed, never
 * held in memory. The result goes to a temporary sibling, is fsynced and renamed over `outFile`. `bytes` and
 * `sha256` describe the compressed file; `entries` counts the tar entries (with the prefix's directories).
 * The same tree gives the same bytes with the same zlib (gzip level `opts.level`, default 6).
 */
export async function writeArchive(
  srcDir: string,
  outFile: string,
  opts: { prefix?: string; mtime?: number; level?: number } = {},
): Promise<{ entries: number; bytes: number; sha256: Sha256 }> {
  const mtime = opts.mtime ?? 0;
  assert(Number.isSafeInteger(mtime) && mtime >= 0, `archive mtime ${mtime} is not whole seconds since 1970`);
  const prefix = prefixParts(opts.prefix);
  const list = await listTree(srcDir);
  const tmp = tempSibling(outFile);
  const fh = await fs.open(tmp, 'wx', 0o644);
  let out: { bytes: number; sha256: Sha256 };
  try {
    out = await writeGzip(tarStream(srcDir, list, prefix, mtime), fh, opts.level ?? 6);
    await fh.sync();
  } catch (e) {
    await fh.close();
    await fs.rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  await renameInto(tmp, outFile);
  return { entries: prefix.length + list.length, ...out };
}

function prefixParts(prefix: string | undefined): string[] {
  if (prefix === undefined) return [];
  const norm = normalizeEntryPath(prefix);
  assert(norm.ok && norm.path !== '', `archive prefix ${JSON.stringify(prefix)} is not a relative path`);
  return norm.path.split('/');
}

async function renameInto(tmp: string, outFile: string): Promise<void> {
  try {
    await fs.rename(tmp, outFile);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
  await fsyncDir(dirname(outFile));
}

async function writeGzip(
  tar: AsyncIterable<Buffer>,
  fh: fs.FileHandle,
  level: number,
): Promise<{ bytes: number; sha256: Sha256 }> {
  const hash = createHash('sha256');
  let bytes = 0;
  await pipeline(tar, createGzip({ level }), async (gz: AsyncIterable<Buffer>) => {
    for await (const chunk of gz) {
      hash.update(chunk);
      bytes += chunk.length;
      await writeAll(fh, chunk);
    }
  });
  return { bytes, sha256: hash.digest('hex') as Sha256 };
}

async function writeAll(fh: fs.FileHandle, buf: Uint8Array): Promise<void> {
  for (let off = 0; off < buf.length;) off += (await fh.write(buf, off, buf.length - off)).bytesWritten;
}

/** Every entry below `root`, depth first, sorted; anything but files, directories and links is refused. */
function listTree(root: string): Promise<TreeEntry[]> {
  return walkTree(root, (path, st) => {
    if (!st.isFile() && !st.isDirectory() && !st.isSymbolicLink())
      throw new AppError('E_ARCHIVE_UNSAFE', `${path} is not a file, directory or symbolic link`, {
        hint: 'binary packages hold only files, directories and symbolic links; remove it from the tree',
      });
  });
}

async function* tarStream(
  root: string,
  list: readonly TreeEntry[],
  prefix: readonly string[],
  mtime: number,
): AsyncGenerator<Buffer> {
  for (let i = 1; i <= prefix.length; i++)
    yield encodeEntry({ path: `${prefix.slice(0, i).join('/')}/`, type: '5', mode: 0o755, size: 0, mtime });
  const under = prefix.length === 0 ? '' : `${prefix.join('/')}/`;
  for (const e of list) {
    const path = under + e.rel;
    if (e.kind === 'dir') yield encodeEntry({ path: `${path}/`, type: '5', mode: 0o755, size: 0, mtime });
    else if (e.kind === 'symlink') {
      const linkname = await fs.readlink(join(root, e.rel));
      yield encodeEntry({ path, type: '2', mode: 0o777, size: 0, mtime, linkname });
    } else yield* fileBlocks(join(root, e.rel), path, mtime);
  }
  yield END_OF_ARCHIVE;
}

/** A tree streamed into a tar below `as` ('' for the top), with some files' contents replaced. */
export interface TarSource {
  readonly dir: string;
  readonly as: string;
  /** Relative path → the bytes to send instead of the file's (a relocated copy, say). */
  readonly replace?: ReadonlyMap<string, Buffer>;
}

/** An extra file in a tar stream; its parent directories must come from an earlier entry or `dirs`. */
export interface TarFile {
  readonly path: string;
  readonly data: Buffer;
}

/** Bytes of a tar stream; `file` names the source file (relative to its tree) whose entry they belong to. */
export interface TarPiece {
  readonly data: Buffer;
  readonly file?: string;
}

/**
 * An uncompressed tar stream of several trees, then extra files, for piping to another machine's `tar -x`.
 * Same entry rules as writeArchive; files are read as they are sent, never held whole in memory.
 */
export async function* tarSources(
  sources: readonly TarSource[],
  extra: { readonly dirs: readonly string[]; readonly files: readonly TarFile[]; readonly end?: boolean },
): AsyncGenerator<Buffer> {
  for await (const piece of tarPieces(sources, extra)) yield piece.data;
}

/** tarSources, with each file's bytes tagged, so a compressor can treat files differently. */
export async function* tarPieces(
  sources: readonly TarSource[],
  extra: { readonly dirs: readonly string[]; readonly files: readonly TarFile[]; readonly end?: boolean },
): AsyncGenerator<TarPiece> {
  const entry = (path: string, type: '0' | '2' | '5', mode: number, linkname?: string): TarPiece => ({
    data: encodeEntry({
      path,
      type,
      mode,
      size: 0,
      mtime: 0,
      ...(linkname === undefined ? {} : { linkname }),
    }),
  });
  for (const d of extra.dirs) yield entry(`${d}/`, '5', 0o755);
  for (const src of sources) {
    const under = src.as === '' ? '' : `${src.as}/`;
    if (src.as !== '') yield entry(under, '5', 0o755);
    for (const e of await listTree(src.dir)) {
      const path = under + e.rel;
      const data = src.replace?.get(e.rel);
      if (e.kind === 'dir') yield entry(`${path}/`, '5', 0o755);
      else if (e.kind === 'symlink') yield entry(path, '2', 0o777, await fs.readlink(join(src.dir, e.rel)));
      else if (data !== undefined) {
        const st = await fs.lstat(join(src.dir, e.rel));
        for (const b of bufferBlocks(path, data, (st.mode & 0o111) !== 0 ? 0o755 : 0o644))
          yield { data: b, file: e.rel };
      } else for (const b of fileBlocks(join(src.dir, e.rel), path, 0)) yield { data: b, file: e.rel };
    }
  }
  for (const f of extra.files) for (const b of bufferBlocks(f.path, f.data, 0o644)) yield { data: b };
  // Without the end blocks, streams can be joined: the reader sees one archive.
  if (extra.end !== false) yield { data: END_OF_ARCHIVE };
}

function* bufferBlocks(path: string, data: Buffer, mode: number): Generator<Buffer> {
  yield encodeEntry({ path, type: '0', mode, size: data.length, mtime: 0 });
  yield data;
  if (padding(data.length) > 0) yield Buffer.alloc(padding(data.length));
}

/**
 * Header, data and padding of one file, read through a descriptor that cannot be a symlink. The calls are
 * synchronous, as in listTree: five thread-pool trips per file cost more than reading a small file.
 */
function* fileBlocks(file: string, path: string, mtime: number): Generator<Buffer> {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw changedWhilePacking(file);
    const mode = (st.mode & 0o111) !== 0 ? 0o755 : 0o644;
    yield encodeEntry({ path, type: '0', mode, size: st.size, mtime });
    for (let left = st.size; left > 0;) {
      const buf = Buffer.allocUnsafe(Math.min(left, READ_CHUNK));
      const bytesRead = readSync(fd, buf, 0, buf.length, null);
      if (bytesRead === 0) throw changedWhilePacking(file);
      yield buf.subarray(0, bytesRead);
      left -= bytesRead;
    }
    if (readSync(fd, Buffer.alloc(1), 0, 1, null) !== 0) throw changedWhilePacking(file);
    if (padding(st.size) > 0) yield Buffer.alloc(padding(st.size));
  } finally {
    closeSync(fd);
  }
}

function changedWhilePacking(file: string): AppError {
  return new AppError('E_ARCHIVE_CORRUPT', `${file} changed while it was being archived`, {
    hint: 'make sure nothing writes to the tree while it is packed, then pack again',
  });
}

// =========================================================================================================
// Extracting

interface ExtractState {
  readonly root: string;
  readonly label: string;
  readonly limits: ExtractLimits;
  readonly out: ExtractedFile[];
  /** Normalised paths of every entry so far, to refuse repeats. */
  readonly seen: Set<string>;
  /** Known real directories (made here or lstat-ed once); nothing is removed or renamed, so they stay so. */
  readonly dirs: Set<string>;
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

/** Overrides from pax 'x' and GNU 'L'/'K' headers for the next entry. */
interface Meta {
  readonly path?: string;
  readonly linkpath?: string;
  readonly size?: number;
}

/**
 * Extract a .tar.gz (or plain tar) from a path, a stream or an async iterable of bytes into `targetDir`, which
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
 * Returns every entry in archive order (not the archive root "./"); files carry the sha256 of what was
 * written.
 */
export async function extractArchive(
  input: string | NodeJS.ReadableStream | AsyncIterable<Buffer>,
  targetDir: string,
  opts: { limits?: Partial<ExtractLimits>; label?: string } = {},
): Promise<ExtractedFile[]> {
  // Paused before the first await: with a 'data' listener on it (a caller hashing the download), a flowing
  // stream would otherwise pass chunks to that listener that extraction never sees.
  if (typeof input !== 'string' && 'pause' in input) input.pause();
  const st = newState(targetDir, opts.label ?? (typeof input === 'string' ? input : 'archive'), opts.limits);
  await makeTarget(targetDir);
  try {
    await decompressInto(
      typeof input === 'string' ? createReadStream(input, { highWaterMark: 1024 * KiB }) : input,
      (data) => {
        const reader = new ByteReader(data, (n) => {
          countInflated(st, n);
        });
        return readArchive(reader, st);
      },
    );
    st.current = undefined;
    checkAllLinks(st);
    return st.out;
  } catch (e) {
    await removeTree(targetDir);
    throw asArchiveError(e, st);
  }
}

function newState(root: string, label: string, limits: Partial<ExtractLimits> | undefined): ExtractState {
  const all = { ...defaultLimits, ...limits };
  for (const [k, v] of Object.entries(all)) assert(v >= 0, `extract limit ${k} is ${v}`);
  return {
    root,
    label,
    limits: all,
    out: [],
    seen: new Set(),
    dirs: new Set(['']),
    links: new Map(),
    current: undefined,
    entries: 0,
    headers: 0,
    declared: 0,
    inflated: 0,
  };
}

async function makeTarget(dir: string): Promise<void> {
  await fs.mkdir(dirname(dir), { recursive: true });
  try {
    await fs.mkdir(dir, 0o755);
  } catch (e) {
    if (isErrno(e, 'EEXIST'))
      throw new Error(`Assertion failed: extraction target ${dir} exists`, { cause: e });
    throw e;
  }
  await fs.chmod(dir, 0o755);
}

function asArchiveError(e: unknown, st: ExtractState): unknown {
  if (isAppError(e)) return e;
  const code = e instanceof Error && 'code' in e ? String(e.code) : '';
  if (code.startsWith('Z_'))
    return failArchive('E_ARCHIVE_CORRUPT', st, `is not valid gzip data (${(e as Error).message})`, {
      cause: e,
    });
  return e;
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

// ---------------------------------------------------------------------------------------------------------
// Bytes in

/**
 * Feed the decompressed bytes of `input` to `consume`, with back-pressure. Gzip is recognised by its magic
 * bytes; anything else is read as plain tar. The peeked bytes are passed on, not pushed back into the stream,
 * so a listener on the caller's stream sees every byte exactly once.
 */
async function decompressInto(
  input: NodeJS.ReadableStream | AsyncIterable<Buffer>,
  consume: (data: AsyncIterable<Buffer>) => Promise<void>,
): Promise<void> {
  const it = input[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headLength = 0;
  while (headLength < 2) {
    const r = await it.next();
    if (r.done === true) break;
    const chunk = asBuffer(r.value);
    head.push(chunk);
    headLength += chunk.length;
  }
  const start = Buffer.concat(head);
  const source = prepend(start, it);
  if (start[0] === 0x1f && start[1] === 0x8b)
    await pipeline(source, createGunzip({ chunkSize: 1024 * KiB }), consume);
  else await pipeline(source, consume);
}

function asBuffer(chunk: unknown): Buffer {
  assert(Buffer.isBuffer(chunk), 'archive input stream yields bytes, not strings (no setEncoding)');
  return chunk;
}

async function* prepend(head: Buffer, rest: AsyncIterator<unknown>): AsyncGenerator<Buffer> {
  try {
    if (head.length > 0) yield head;
    for (let r = await rest.next(); r.done !== true; r = await rest.next()) yield asBuffer(r.value);
  } finally {
    await rest.return?.();
  }
}

/**
 * Pull-based reading of the decompressed stream, in pieces of at most a requested size. `onRead` sees each
 * byte as it is taken (not when its chunk arrives), so the count does not depend on how the input is chunked.
 */
class ByteReader {
  readonly #it: AsyncIterator<Buffer>;
  readonly #onRead: (n: number) => void;
  #buf: Buffer = Buffer.alloc(0);

  constructor(data: AsyncIterable<Buffer>, onRead: (n: number) => void) {
    this.#it = data[Symbol.asyncIterator]();
    this.#onRead = onRead;
  }

  /** The next 1..max bytes, or undefined at the end of the stream. */
  async next(max: number): Promise<Buffer | undefined> {
    while (this.#buf.length === 0) {
      const r = await this.#it.next();
      if (r.done === true) return undefined;
      this.#buf = r.value;
    }
    const out = this.#buf.subarray(0, max);
    this.#buf = this.#buf.subarray(out.length);
    this.#onRead(out.length);
    return out;
  }

  /** Exactly n bytes (n small), or fewer when the stream ends first. */
  async read(n: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let got = 0;
    while (got < n) {
      const piece = await this.next(n - got);
      if (piece === undefined) break;
      parts.push(piece);
      got += piece.length;
    }
    return parts.length === 1 ? (parts[0] ?? Buffer.alloc(0)) : Buffer.concat(parts);
  }
}

/**
 * Every decompressed byte must be a header, declared data, block padding or the short trailer. This stops a
 * bomb that declares little and inflates to a lot (zeros after the end-of-archive marker) after about 1 MiB,
 * and backs up the per-entry checks; declared sizes meet the limits before any of their data is written.
 * Back-pressure keeps decompression at most one zlib chunk ahead of what is counted here.
 */
function countInflated(st: ExtractState, n: number): void {
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

// ---------------------------------------------------------------------------------------------------------
// Headers in

const META_TYPES: ReadonlySet<string> = new Set(['x', 'g', 'L', 'K']);

async function readArchive(reader: ByteReader, st: ExtractState): Promise<void> {
  let meta: Meta = {};
  let metaRun = 0;
  for (;;) {
    const h = await readHeader(reader, st);
    if (h === 'end') {
      if (metaRun > 0)
        throw failArchive('E_ARCHIVE_CORRUPT', st, 'has a pax or long-name header with no entry after it');
      await readTrailer(reader, st);
      return;
    }
    if (META_TYPES.has(h.type)) {
      if (++metaRun > MAX_META_RUN)
        throw failArchive('E_ARCHIVE_CORRUPT', st, `has more than ${MAX_META_RUN} metadata headers in a row`);
      meta = await readMeta(reader, st, h, meta);
      continue;
    }
    await readEntry(reader, st, h, meta);
    meta = {};
    metaRun = 0;
  }
}

/** The next header, or 'end' at the first zero block. */
async function readHeader(reader: ByteReader, st: ExtractState): Promise<TarHeader | 'end'> {
  const block = await reader.read(BLOCK);
  if (block.length === 0) throw failArchive('E_ARCHIVE_CORRUPT', st, 'ends without an end-of-archive marker');
  if (block.length < BLOCK) throw failArchive('E_ARCHIVE_CORRUPT', st, 'is truncated in a header');
  st.headers++;
  const d = decodeHeader(block);
  if (d.kind === 'bad') throw failArchive('E_ARCHIVE_CORRUPT', st, `has a bad header: ${d.reason}`);
  return d.kind === 'zero' ? 'end' : d.header;
}

/**
 * After the first zero block: nothing but zero padding (the second zero block, then the rest of the last
 * record). Its length is bounded by countInflated, which allows MAX_TRAILER_BYTES for it.
 */
async function readTrailer(reader: ByteReader, st: ExtractState): Promise<void> {
  st.current = undefined;
  for (let piece = await reader.next(64 * KiB); piece !== undefined; piece = await reader.next(64 * KiB))
    if (!isZero(piece))
      throw failArchive('E_ARCHIVE_CORRUPT', st, 'has data after its end-of-archive marker');
}

async function readMeta(reader: ByteReader, st: ExtractState, h: TarHeader, meta: Meta): Promise<Meta> {
  if (h.size > MAX_META_BYTES)
    throw failArchive(
      'E_ARCHIVE_LIMIT',
      st,
      `has a ${h.size}-byte metadata header (type ${JSON.stringify(h.type)}), ` +
        `over the fixed limit of ${MAX_META_BYTES}`,
      { hint: FIXED_LIMIT_HINT },
    );
  st.declared += h.size;
  const body = await readExactly(reader, st, h.size);
  await readExactly(reader, st, padding(h.size));
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

async function readExactly(reader: ByteReader, st: ExtractState, n: number): Promise<Buffer> {
  const buf = await reader.read(n);
  if (buf.length < n) throw failArchive('E_ARCHIVE_CORRUPT', st, 'is truncated');
  return buf;
}

// ---------------------------------------------------------------------------------------------------------
// Entries out

interface Planned {
  readonly path: string;
  readonly kind: ArchiveEntryKind;
  readonly mode: number;
  readonly size: number;
  readonly linkTarget: string;
}

async function readEntry(reader: ByteReader, st: ExtractState, h: TarHeader, meta: Meta): Promise<void> {
  const e = planEntry(st, h, meta);
  if (e === undefined) return;
  const abs = join(st.root, e.path);
  try {
    ensureParents(st, e.path);
    if (e.kind === 'dir') makeDir(st, e, abs);
    else if (e.kind === 'symlink') makeLink(st, e, abs);
    else await writeFile(reader, st, e, abs);
  } catch (err) {
    throw mapCreateError(err, st);
  }
}

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

/** Create missing parents; a parent that exists must be a real directory, never a symlink. */
function ensureParents(st: ExtractState, path: string): void {
  const parts = path.split('/');
  for (let i = 1; i < parts.length; i++) {
    const rel = parts.slice(0, i).join('/');
    if (st.dirs.has(rel)) continue;
    const abs = join(st.root, rel);
    const found = lstatIfExists(abs);
    if (found?.isSymbolicLink() === true)
      throw fail('E_ARCHIVE_UNSAFE', st, `goes through the symbolic link ${JSON.stringify(rel)}`);
    if (found !== undefined && !found.isDirectory())
      throw fail('E_ARCHIVE_UNSAFE', st, `goes through ${JSON.stringify(rel)}, which is not a directory`);
    if (found === undefined) {
      mkdirSync(abs);
      chmodSync(abs, 0o755);
    }
    st.dirs.add(rel);
  }
}

// The per-entry calls below are synchronous on purpose: each is a few microseconds, while a trip through
// libuv's thread pool costs tens; with thousands of small files per package that is most of an install.
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
  if (!st.dirs.has(e.path)) mkdirSync(abs);
  st.dirs.add(e.path);
  chmodSync(abs, e.mode);
  st.out.push({ path: e.path, kind: 'dir', mode: e.mode, size: 0 });
}

function makeLink(st: ExtractState, e: Planned, abs: string): void {
  const why = symlinkEscape(e.path, e.linkTarget, st.links);
  if (why !== undefined) throw fail('E_ARCHIVE_UNSAFE', st, why);
  symlinkSync(e.linkTarget, abs);
  st.links.set(e.path, e.linkTarget);
  st.out.push({ path: e.path, kind: 'symlink', mode: e.mode, size: 0, linkTarget: e.linkTarget });
}

/** Limits are checked on the declared size before the file is created; data is streamed and hashed. */
async function writeFile(reader: ByteReader, st: ExtractState, e: Planned, abs: string): Promise<void> {
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
  const fd = openSync(abs, flags, 0o600);
  const hash = createHash('sha256');
  try {
    for (let left = e.size; left > 0;) {
      const piece = await reader.next(Math.min(left, READ_CHUNK));
      if (piece === undefined)
        throw fail('E_ARCHIVE_CORRUPT', st, `is truncated (${e.size - left} of ${e.size} bytes)`);
      hash.update(piece);
      for (let off = 0; off < piece.length;) off += writeSync(fd, piece, off, piece.length - off);
      left -= piece.length;
    }
    fchmodSync(fd, e.mode);
  } finally {
    closeSync(fd);
  }
  await readExactly(reader, st, padding(e.size));
  const sha256 = hash.digest('hex') as Sha256;
  st.out.push({ path: e.path, kind: 'file', mode: e.mode, size: e.size, sha256 });
}

/** EEXIST and ELOOP can only mean the archive aimed an entry at something an earlier entry made. */
function mapCreateError(e: unknown, st: ExtractState): unknown {
  if (isErrno(e, 'EEXIST') || isErrno(e, 'ELOOP'))
    return fail('E_ARCHIVE_UNSAFE', st, 'collides with an earlier entry', { cause: e });
  if (isErrno(e, 'ENAMETOOLONG'))
    return fail('E_ARCHIVE_UNSAFE', st, 'has a name too long for this file system', { cause: e });
  return e;
}

/** Links checked one by one see only earlier links; a later link can make an earlier one escape. */
function checkAllLinks(st: ExtractState): void {
  for (const [path, target] of st.links) {
    const why = symlinkEscape(path, target, st.links);
    if (why === undefined) continue;
    st.current = path;
    throw fail('E_ARCHIVE_UNSAFE', st, why);
  }
}
