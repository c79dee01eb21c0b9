/**
 * Writing binary-package archives: a deterministic .tar.gz of a tree, and uncompressed tar streams of several
 * trees for another machine's `tar -x`. The tar format itself is in tar.ts; extraction is in untar.ts.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { AppError, assert, type Sha256 } from '../core/index.js';
import { fsyncDir, tempSibling, walkTree, type TreeEntry } from '../platform/index.js';
import { END_OF_ARCHIVE, encodeEntry, normalizeEntryPath, padding } from './tar.js';

/** Files are read in pieces of this size. */
const READ_CHUNK = 1024 * 1024;

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
