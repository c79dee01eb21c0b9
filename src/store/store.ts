import { randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { AppError, isErrno } from '../core/index.js';
import {
  FileLock,
  fsyncDir,
  isLockHeld,
  makeReadOnly,
  makeWritable,
  readTextIfExists,
  removeTree,
  syncFileSystem,
  tempSibling,
  walkTree,
  writeFileAtomic,
} from '../platform/index.js';
import { recordOf } from './hashtree.js';
import {
  parseMeta,
  parseStoreId,
  tryParseStoreId,
  type FileRecord,
  type StoreId,
  type StoreMeta,
} from './meta.js';

/** A finished tree for registerAll. */
export interface Registration {
  readonly tmpDir: string;
  readonly meta: StoreMeta;
  /** Every file and directory below tmpDir is read-only already. */
  readonly readOnly: boolean;
}

export interface VerifyProblem {
  readonly id: string;
  readonly kind: 'modified' | 'missing' | 'unexpected' | 'no-metadata';
  readonly file?: string;
  readonly detail?: string;
}

/**
 * The content-addressed store under `<root>/store`. A store path is registered when its directory exists;
 * its metadata is written before the directory is renamed into place, so a visible path always has
 * metadata and a crash leaves at most an unreferenced temporary directory or metadata file.
 */
export class Store {
  readonly rootDir: string;
  readonly storeDir: string;
  private readonly metaDir: string;
  private readonly lockDir: string;

  private constructor(rootDir: string) {
    this.rootDir = rootDir;
    this.storeDir = join(rootDir, 'store');
    this.metaDir = join(this.storeDir, '.meta');
    this.lockDir = join(this.storeDir, '.locks');
  }

  static open(rootDir: string): Promise<Store> {
    const s = new Store(rootDir);
    // Synchronously: on every command's path, and two calls that almost always find the directories there.
    mkdirSync(s.metaDir, { recursive: true });
    mkdirSync(s.lockDir, { recursive: true });
    return Promise.resolve(s);
  }

  pathOf(id: StoreId): string {
    return join(this.storeDir, id);
  }

  /**
   * A fresh directory whose path has exactly the final store path's length, so paths embedded by a build
   * that could not see the final path can be rewritten byte for byte.
   */
  async makeTempOut(id: StoreId): Promise<string> {
    const dir = this.tempOutName(id);
    await fs.mkdir(dir);
    return dir;
  }

  /**
   * A fresh temporary output name, not created: for an extractor that makes its own target (a directory made
   * and removed again costs a freed block, which online discard trims synchronously).
   */
  tempOutName(id: StoreId): string {
    const prefix = '.tmp-';
    const rand = randomBytes(id.length)
      .toString('hex')
      .slice(0, id.length - prefix.length);
    return join(this.storeDir, prefix + rand);
  }

  /**
   * The ids the store lacks, in the given order. One lstat each, synchronously: for the dozens of paths of a
   * plan that is several times faster than a round trip through the thread pool per path.
   */
  missing(ids: Iterable<StoreId>): StoreId[] {
    return [...ids].filter((id) => !isDirectory(this.pathOf(id)));
  }

  /** One synchronous lstat (see missing()): an install asks this twice per package. */
  has(id: StoreId): Promise<boolean> {
    return Promise.resolve(isDirectory(this.pathOf(id)));
  }

  async list(): Promise<StoreId[]> {
    const names = await fs.readdir(this.storeDir);
    return names
      .map((n) => tryParseStoreId(n))
      .filter((n): n is StoreId => n !== undefined)
      .sort();
  }

  async readMeta(id: StoreId): Promise<StoreMeta> {
    const file = this.metaFile(id);
    const text = await readTextIfExists(file);
    if (text === undefined)
      throw new AppError('E_STORE_PATH', `no metadata for store path ${id}`, { hint: 'run ferry verify' });
    return parseMeta(text, file);
  }

  async writeMeta(meta: StoreMeta): Promise<void> {
    await writeFileAtomic(this.metaFile(meta.id), metaText(meta));
  }

  private metaFile(id: StoreId): string {
    return join(this.metaDir, `${id}.json`);
  }

  /** Serialises garbage collection against processes announcing the store paths they are about to use. */
  async gcLock(): Promise<FileLock> {
    return FileLock.acquire(join(this.lockDir, '.gc'));
  }

  /**
   * Announce store paths this process is about to build or use, so a concurrent `ferry gc` keeps them until
   * this process exits (Nix's temporary roots). Taken under the gc lock: a collection in progress finishes
   * first, and any later one sees these paths.
   */
  async addTempRoots(ids: Iterable<StoreId>): Promise<void> {
    const dir = join(this.rootDir, 'var', 'temproots');
    await fs.mkdir(dir, { recursive: true });
    const lock = await this.gcLock();
    try {
      await fs.appendFile(join(dir, String(process.pid)), [...ids].map((id) => `${id}\n`).join(''));
    } finally {
      await lock.release();
    }
  }

  /** Temporary roots of live processes; files of dead ones are removed. Call with the gc lock held. */
  async readTempRoots(): Promise<Set<StoreId>> {
    const dir = join(this.rootDir, 'var', 'temproots');
    const out = new Set<StoreId>();
    let names: string[] = [];
    try {
      names = await fs.readdir(dir);
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw e;
    }
    for (const name of names) {
      const pid = Number.parseInt(name, 10);
      if (!isAlive(pid) || pid === process.pid) {
        if (pid !== process.pid) await fs.rm(join(dir, name), { force: true });
        continue;
      }
      for (const line of ((await readTextIfExists(join(dir, name))) ?? '').split('\n')) {
        const id = tryParseStoreId(line.trim());
        if (id !== undefined) out.add(id);
      }
    }
    return out;
  }

  /** Holds off other ferry processes building or deleting the same store path. */
  async lock(id: StoreId, onWait?: (pid: number) => void): Promise<FileLock> {
    return FileLock.acquire(join(this.lockDir, id), onWait === undefined ? {} : { onWait });
  }

  /**
   * Make `tmpDir` the store path `meta.id` (see registerAll). `readOnly`: the caller made every file and
   * directory below it read-only already (an extraction that did it on the way).
   */
  async register(tmpDir: string, meta: StoreMeta, opts: { readOnly?: boolean } = {}): Promise<void> {
    await this.registerAll([{ tmpDir, meta, readOnly: opts.readOnly === true }]);
  }

  /**
   * Make finished trees store paths, in the order given (each one's references are in the store already or
   * earlier in the list), so that after a power cut each is whole or absent: its files' data are on disk before
   * its record, and its record before its name. A file's data are not durable until something syncs them
   * (ext4 allocates blocks at writeback, so a rename can reach the disk first and leave empty files), and an
   * fsync per file costs a journal commit each: one syncfs covers every tree and the records' content, then one
   * fsync per directory makes the names durable, records first.
   */
  async registerAll(items: readonly Registration[]): Promise<void> {
    const known = new Set<StoreId>();
    for (const { meta } of items) {
      const absent = this.missing(meta.references.filter((r) => r !== meta.id && !known.has(r)));
      if (absent[0] !== undefined)
        throw new AppError('E_STORE_PATH', `${meta.id} needs ${absent[0]}, which is not in the store`, {
          hint: 'install its dependencies first (a cache install does this in order)',
        });
      known.add(meta.id);
    }
    // Synchronous calls for the many small steps: a round trip through the thread pool each cost more.
    for (const { tmpDir, readOnly } of items) {
      if (!readOnly) await makeReadOnly(tmpDir);
      chmodSync(tmpDir, 0o555);
    }
    const records = items.map(({ meta }) => {
      const path = this.metaFile(meta.id);
      return { path, tmp: tempSibling(path), text: metaText(meta) };
    });
    try {
      for (const r of records) writeFileSync(r.tmp, r.text, { flag: 'wx', mode: 0o644 });
      await syncFileSystem(this.storeDir);
      for (const r of records) renameSync(r.tmp, r.path);
      await fsyncDir(this.metaDir);
    } catch (e) {
      for (const r of records) rmSync(r.tmp, { force: true });
      throw e;
    }
    for (const { tmpDir, meta } of items) renameSync(tmpDir, this.pathOf(meta.id));
    await fsyncDir(this.storeDir);
  }

  /** Store paths reachable from `ids` through run-time references, including `ids`. */
  async closure(ids: Iterable<StoreId>): Promise<Set<StoreId>> {
    const seen = new Set<StoreId>();
    const stack = [...ids];
    for (let id = stack.pop(); id !== undefined; id = stack.pop()) {
      if (seen.has(id)) continue;
      seen.add(id);
      stack.push(...(await this.readMeta(id)).references);
    }
    return seen;
  }

  /** Remove a store path: out of sight first (rename), then its files, then its metadata. */
  async delete(id: StoreId): Promise<void> {
    const grave = join(this.storeDir, `.trash-${id}`);
    try {
      await fs.rename(this.pathOf(id), grave);
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw e;
    }
    await removeTree(grave);
    await fs.rm(this.metaFile(id), { force: true });
  }

  /**
   * Remove what interrupted work left behind, never touching anything a live ferry process holds: temporary
   * outputs and trash, metadata without a store path, build directories, dead processes' locks and temporary
   * roots. Returns what was removed.
   */
  async cleanLeftovers(): Promise<string[]> {
    const removed: string[] = [];
    const held = new Set<string>();
    for (const name of await fs.readdir(this.lockDir)) {
      const path = join(this.lockDir, name);
      if ((await isLockHeld(path)) || isBeingCreated(name)) held.add(name);
      else {
        await removeTree(path);
        removed.push(`lock ${name}`);
      }
    }
    const anyBuild = [...held].some((n) => tryParseStoreId(n) !== undefined);
    for (const name of await fs.readdir(this.storeDir)) {
      if (!(name.startsWith('.tmp-') || name.startsWith('.trash-')) || anyBuild) continue;
      await removeTree(join(this.storeDir, name));
      removed.push(name);
    }
    for (const name of await fs.readdir(this.metaDir)) {
      const id = name.startsWith('.tmp-')
        ? /^\.tmp-(.*)\.json-[0-9a-f]+$/.exec(name)?.[1]
        : name.replace(/\.json$/, '');
      if (id === undefined || held.has(id) || (!name.startsWith('.tmp-') && (await this.has(id as StoreId))))
        continue;
      await fs.rm(join(this.metaDir, name), { force: true });
      removed.push(`metadata ${name}`);
    }
    const buildDir = join(this.rootDir, 'build');
    for (const name of await fs.readdir(buildDir).catch(() => [] as string[])) {
      if (held.has(name)) continue;
      await removeTree(join(buildDir, name));
      removed.push(`build/${name}`);
    }
    await this.readTempRoots();
    return removed;
  }

  /** Re-hash every store path against its recorded hashes. */
  async verify(onPath?: (id: StoreId) => void): Promise<{ checked: number; problems: VerifyProblem[] }> {
    const problems: VerifyProblem[] = [];
    const ids = await this.list();
    for (const id of ids) {
      onPath?.(id);
      let meta: StoreMeta;
      try {
        meta = await this.readMeta(id);
      } catch (e) {
        if (!(e instanceof AppError)) throw e;
        problems.push({ id, kind: 'no-metadata', detail: e.message });
        continue;
      }
      problems.push(...(await this.verifyPath(id, meta.files)));
    }
    return { checked: ids.length, problems };
  }

  async verifyPath(id: StoreId, files: Readonly<Record<string, FileRecord>>): Promise<VerifyProblem[]> {
    const problems: VerifyProblem[] = [];
    const dir = this.pathOf(parseStoreId(id));
    const seen = new Set<string>();
    for (const e of await walkTree(dir)) {
      seen.add(e.rel);
      const want = files[e.rel];
      if (want === undefined) {
        problems.push({ id, kind: 'unexpected', file: e.rel });
        continue;
      }
      const got = await recordOf(join(dir, e.rel), e.kind, e.mode, e.size);
      if (JSON.stringify(got) !== JSON.stringify(want))
        problems.push({ id, kind: 'modified', file: e.rel, detail: describeDiff(want, got) });
    }
    for (const rel of Object.keys(files))
      if (!seen.has(rel)) problems.push({ id, kind: 'missing', file: rel });
    return problems;
  }

  /** Temporarily writable, for relocation only. */
  async withWritable<T>(id: StoreId, fn: (dir: string) => Promise<T>): Promise<T> {
    const dir = this.pathOf(id);
    await makeWritable(dir);
    try {
      return await fn(dir);
    } finally {
      await makeReadOnly(dir);
    }
  }
}

/** `<lock>.new-<pid>-<rand>`: a lock another process is creating right now. */
function isBeingCreated(name: string): boolean {
  const pid = Number.parseInt(/\.new-(\d+)-/.exec(name)?.[1] ?? '', 10);
  if (!Number.isFinite(pid)) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return isErrno(e, 'EPERM');
  }
}

function describeDiff(want: FileRecord, got: FileRecord): string {
  if (want.type !== got.type) return `was a ${want.type}, is a ${got.type}`;
  if (want.type === 'file' && got.type === 'file') {
    if (want.sha256 !== got.sha256) return `sha256 recorded ${want.sha256}, found ${got.sha256}`;
    return `executable bit recorded ${want.executable}, found ${got.executable}`;
  }
  if (want.type === 'symlink' && got.type === 'symlink')
    return `link target recorded ${want.target}, found ${got.target}`;
  return 'differs';
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return isErrno(e, 'EPERM');
  }
}

function isDirectory(path: string): boolean {
  try {
    return lstatSync(path).isDirectory();
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return false;
    throw e;
  }
}

function metaText(meta: StoreMeta): string {
  return `${JSON.stringify(meta, null, 1)}\n`;
}
