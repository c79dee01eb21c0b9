import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { AppError, canonicalJson, inParallel, isErrno, messageOf, sha256Bytes } from '../core/index.js';
import { FileLock, pathExists, writeFileAtomic } from '../platform/index.js';
import { packStorePath, packageFiles, signBytes, type SecretKey } from '../pkg/index.js';
import type { Store, StoreId } from '../store/index.js';
import { nextIndex, parseIndex, type CacheIndex, type IndexEntry } from './cache-index.js';
import { INDEX_FILE, PKG_DIR, readEnvelope } from './layout.js';

const PACK_JOBS = 4;

export interface PushOptions {
  readonly key: SecretKey;
  /** Days until the re-signed index expires; clients refuse it afterwards. */
  readonly validDays: number;
  readonly now: Date;
  readonly onPacked?: (id: StoreId, skipped: boolean) => void;
}

export interface PushResult {
  readonly packed: readonly StoreId[];
  readonly present: readonly StoreId[];
  readonly version: number;
  readonly expires: string;
}

/**
 * Pack each store path the cache lacks into its static layout, then publish a new index (version + 1) that
 * lists them, signed. Packages are written before the index names them, so a reader never sees an index entry
 * without its files. One pusher at a time per cache (a lock file in the cache directory).
 */
export async function pushToDir(store: Store, dir: string, ids: readonly StoreId[], opts: PushOptions) {
  await fs.mkdir(join(dir, PKG_DIR), { recursive: true }).catch((e: unknown) => {
    throw new AppError('E_CACHE_UNREACHABLE', `${dir}: cannot make the cache here (${messageOf(e)})`, {
      hint: 'give `cache push` a directory path it may write to',
      cause: e,
    });
  });
  const lock = await FileLock.acquire(join(dir, '.push.lock'));
  try {
    await removeLeftovers(dir);
    const previous = await readPrevious(dir);
    const present: StoreId[] = [];
    const todo: StoreId[] = [];
    for (const id of ids) {
      const files = packageFiles(join(dir, PKG_DIR), id);
      const cached =
        previous?.packages[id] !== undefined &&
        (await Promise.all([files.archive, files.manifest, files.signature].map(pathExists))).every(Boolean);
      (cached ? present : todo).push(id);
      if (cached) opts.onPacked?.(id, true);
    }
    // Each archive's gzip runs on libuv's threads one piece at a time, waiting on the thread hop; as many
    // packages at once as libuv has threads (4) kept 2 cores busy: 50 packages in 6.2-6.9 s, 8.3-8.9 s with 2.
    const entries = await inParallel(todo, PACK_JOBS, async (id) => {
      const r = await packStorePath(store, id, join(dir, PKG_DIR), opts.key);
      const manifest = await fs.readFile(r.files.manifest);
      opts.onPacked?.(id, false);
      return {
        manifestSha256: sha256Bytes(manifest),
        archiveSha256: r.manifest.archive.sha256,
        archiveSize: r.manifest.archive.size,
      } satisfies IndexEntry;
    });
    const added = new Map(todo.map((id, i) => [id, entries[i] as IndexEntry]));
    const index = nextIndex(previous, added, opts.now, opts.validDays);
    await writeFileAtomic(join(dir, INDEX_FILE), signIndex(index, opts.key));
    return {
      packed: [...added.keys()],
      present,
      version: index.version,
      expires: index.expires,
    } satisfies PushResult;
  } finally {
    await lock.release();
  }
}

/** One file, so index and signature change together in one rename: `{ signatures, signed }`. */
export function signIndex(index: CacheIndex, key: SecretKey): string {
  const signature = signBytes(key, Buffer.from(canonicalJson(index)));
  return `${JSON.stringify({ signatures: [signature], signed: index }, null, 1)}\n`;
}

/**
 * The index being replaced; undefined only when there is none. One that cannot be read stops the push: treated
 * as absent, the new index would start again at version 1 without the packages listed before, and every client
 * that saw the old one would refuse it as a rollback.
 */
async function readPrevious(dir: string): Promise<CacheIndex | undefined> {
  const file = join(dir, INDEX_FILE);
  const bytes = await fs.readFile(file).catch((e: unknown) => {
    if (isErrno(e, 'ENOENT')) return undefined;
    throw new AppError('E_CACHE_UNREACHABLE', `${file}: cannot read the cache's index (${messageOf(e)})`, {
      hint: 'a push reads the index and replaces it: check the owner and permissions of the cache directory',
      cause: e,
    });
  });
  if (bytes === undefined) return undefined;
  const env = readEnvelope(bytes, `file://${dir}/${INDEX_FILE}`);
  return parseIndex(Buffer.from(canonicalJson(env.signed)), `file://${dir}`);
}

/**
 * Temporary files a push killed midway left (`.tmp-NAME-RANDOM`, see tempSibling). Only a push writes here, and
 * this one holds the lock, so none of them is in use.
 */
async function removeLeftovers(dir: string): Promise<void> {
  for (const d of [dir, join(dir, PKG_DIR)])
    for (const name of await fs.readdir(d))
      if (name.startsWith('.tmp-')) await fs.rm(join(d, name), { force: true, recursive: true });
}
