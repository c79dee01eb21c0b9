import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  type Stats,
} from 'node:fs';
import * as fs from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { spawn } from 'node:child_process';
import { AppError, isErrno } from '../core/index.js';

/** A unique sibling name for `path`, in the same directory so a rename is atomic. */
export function tempSibling(path: string): string {
  return join(dirname(path), `.tmp-${basename(path)}-${randomBytes(6).toString('hex')}`);
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, constants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Write back everything dirty on `dir`'s file system and wait for it: syncfs(2), through coreutils' `sync -f`
 * (Node has no binding for it); where `-f` is unknown (coreutils before 8.24), a whole-system sync. One call
 * makes thousands of new files durable, where an fsync each would cost a journal commit each.
 */
export async function syncFileSystem(dir: string): Promise<void> {
  const one = await runSync(['-f', dir]);
  if (one.status === 0) return;
  // Only an old sync that lacks -f is a reason to sync everything instead; a write error is not.
  if (!/invalid option|unrecognized option|extra operand/i.test(one.stderr))
    throw syncFailed(dir, `sync -f exited with status ${one.status}: ${one.stderr.trim()}`);
  const all = await runSync([]);
  if (all.status !== 0) throw syncFailed(dir, `sync exited with status ${all.status}: ${all.stderr.trim()}`);
}

function syncFailed(dir: string, why: string): AppError {
  return new AppError('E_SYSTEM', `new files under ${dir} may not be on disk (${why})`, {
    hint: 'check the disk (dmesg shows I/O errors), then run the command again',
  });
}

function runSync(args: readonly string[]): Promise<{ status: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('sync', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 4096) stderr += d.toString('utf8');
    });
    child.on('error', (e) => {
      reject(
        new AppError(
          'E_SYSTEM',
          `cannot run sync (coreutils) to write new store paths to disk: ${e.message}`,
          {
            hint: "put coreutils' sync on PATH",
            cause: e,
          },
        ),
      );
    });
    child.on('close', (code) => {
      resolve({ status: code ?? 128, stderr });
    });
  });
}

/**
 * Write a file so readers see either the old or the new content, never a torn one, even after a crash:
 * temp file, fsync, rename, fsync the directory.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  await placeFile(path, data, mode);
  await fsyncDir(dirname(path));
}

/**
 * writeFileAtomic without its last step: the rename is durable once the caller fsyncs the directory (a new
 * generation's tree is synced whole, after every file in it is written).
 */
export async function placeFile(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const tmp = tempSibling(path);
  const fh = await fs.open(tmp, 'wx', mode);
  try {
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, path);
  } catch (e) {
    // A failed write or fsync (disk full, I/O error) leaves no temporary file behind, as a failed rename does not.
    await fs.rm(tmp, { force: true });
    throw e;
  }
}

/** Point symlink `path` at `target` atomically (new link under a temp name, then rename over the old one). */
export async function replaceSymlink(target: string, path: string): Promise<void> {
  const tmp = tempSibling(path);
  await fs.symlink(target, tmp);
  try {
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
  await fsyncDir(dirname(path));
}

export async function pathExists(path: string): Promise<boolean> {
  try {
    await fs.lstat(path);
    return true;
  } catch (e) {
    if (isErrno(e, 'ENOENT') || isErrno(e, 'ENOTDIR')) return false;
    throw e;
  }
}

/**
 * A small text file (manifest, configuration, record), or undefined when it does not exist. Read synchronously:
 * one call instead of four round trips through the thread pool, on every command's path.
 */
export function readTextIfExists(path: string): Promise<string | undefined> {
  try {
    return Promise.resolve(readFileSync(path, 'utf8'));
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return Promise.resolve(undefined);
    return Promise.reject(e instanceof Error ? e : new Error(String(e)));
  }
}

/** Remove a tree that may contain read-only directories (store paths are made read-only). */
export async function removeTree(path: string): Promise<void> {
  try {
    await fs.rm(path, { recursive: true, force: true });
  } catch (e) {
    if (!isErrno(e, 'EACCES') && !isErrno(e, 'EPERM')) throw e;
    await makeWritable(path);
    await fs.rm(path, { recursive: true, force: true });
  }
}

export async function makeWritable(path: string): Promise<void> {
  const st = await fs.lstat(path);
  if (!st.isDirectory()) return;
  await fs.chmod(path, st.mode | 0o700);
  for (const entry of await fs.readdir(path)) await makeWritable(join(path, entry));
}

/**
 * Clear write bits below `path` (not following symlinks), so accidental writes into the store fail.
 * Synchronous calls inside: per-file metadata calls are microseconds, a thread-pool round trip is tens.
 */
export function makeReadOnly(path: string): Promise<void> {
  const visit = (p: string): void => {
    const st = lstatSync(p);
    if (st.isSymbolicLink()) return;
    if (st.isDirectory()) for (const entry of readdirSync(p)) visit(join(p, entry));
    chmodSync(p, st.mode & ~0o222);
  };
  try {
    visit(path);
  } catch (e) {
    return Promise.reject(e instanceof Error ? e : new Error(String(e)));
  }
  return Promise.resolve();
}

export interface TreeEntry {
  /** Path relative to the walked root, with '/' separators. */
  readonly rel: string;
  readonly kind: 'file' | 'dir' | 'symlink';
  readonly mode: number;
  readonly size: number;
}

/**
 * Every entry below `root`, sorted by path (a directory before its contents), symlinks not followed; anything
 * else than a directory or a symlink is reported as a file, unless `check` (given each path and its lstat)
 * throws. Synchronous inside, as makeReadOnly.
 */
export function walkTree(root: string, check?: (path: string, st: Stats) => void): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  const visit = (rel: string): void => {
    const names = readdirSync(rel === '' ? root : join(root, rel)).sort();
    for (const name of names) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const st = lstatSync(join(root, r));
      check?.(join(root, r), st);
      const kind = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'dir' : 'file';
      out.push({ rel: r, kind, mode: st.mode & 0o7777, size: st.size });
      if (kind === 'dir') visit(r);
    }
  };
  try {
    visit('');
  } catch (e) {
    return Promise.reject(e instanceof Error ? e : new Error(String(e)));
  }
  return Promise.resolve(out);
}

/**
 * A file's bytes in order, read with synchronous calls into one buffer: each piece is overwritten by the next,
 * so a consumer must be done with it (or copy it) before it asks for the next. For readers that use each piece
 * at once (hashing, decompressing): a stream would hop through libuv's thread pool and allocate fresh memory
 * for every piece, and a read of a megabyte from the page cache takes a fraction of that hop's cost.
 */
export function* readPieces(path: string, size = 1 << 20): Generator<Buffer, void, undefined> {
  const buf = Buffer.allocUnsafe(size);
  const fd = openSync(path, 'r');
  try {
    for (let n = readSync(fd, buf, 0, size, null); n > 0; n = readSync(fd, buf, 0, size, null))
      yield buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}
