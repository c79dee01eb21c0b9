import * as fs from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  AppError,
  canonicalJson,
  isAppError,
  largestFirst,
  messageOf,
  sha256Bytes,
  storeHash,
  turnsLargestFirst,
  type Reporter,
} from '../core/index.js';
import { readTextIfExists, writeFileAtomic } from '../platform/index.js';
import {
  checkPlatform,
  ExtractPool,
  stagePackage,
  type StagedPackage,
  openManifest,
  verifyBytes,
  type HostPlatform,
  type PackageManifest,
  type TrustOptions,
} from '../pkg/index.js';
import type { Store, StoreId, StoreMeta } from '../store/index.js';
import { checkFreshness, parseIndex, type CacheIndex, type SeenIndex } from './cache-index.js';
import { INDEX_FILE, PKG_DIR, readEnvelope } from './layout.js';
import { openSource, type CacheSource } from './source.js';

export interface SubstituteOptions {
  readonly trust: TrustOptions;
  readonly host: HostPlatform;
  readonly now: Date;
  readonly reporter: Reporter;
  /** Packages fetched and extracted at once, at most (and no more than the cores when reading local files). */
  readonly parallel: number;
  /** How long an HTTP cache may send nothing before a request is retried (STALL_MS when absent). */
  readonly stallMs?: number;
}

export interface OpenedCache {
  readonly source: CacheSource;
  readonly index: CacheIndex;
  readonly signer: string | undefined;
}

/**
 * Read a cache's index: signature first, then freshness against what this root has seen (rollback and
 * freeze protection), then remember its version. Nothing from the cache is trusted before this passes.
 */
export async function openCache(
  store: Store,
  url: string,
  trust: TrustOptions,
  now: Date,
  stallMs?: number,
): Promise<OpenedCache> {
  const { cache, remembered } = await readCache(store, url, trust, now, stallMs);
  await remembered;
  return cache;
}

/**
 * openCache, but the index's version is written down (a file and an fsync, 5-20 ms) while the caller goes on:
 * `remembered` settles when it is. The check against what was seen before is done by then; the record only
 * guards later runs, so an install need not wait for it, only finish after it.
 */
async function readCache(
  store: Store,
  url: string,
  trust: TrustOptions,
  now: Date,
  stallMs?: number,
): Promise<{ cache: OpenedCache; remembered: Promise<void> }> {
  const source = openSource(url, stallMs);
  const bytes = await source.read(INDEX_FILE);
  const where = `${source.url}/${INDEX_FILE}`;
  if (bytes === undefined)
    throw new AppError('E_CACHE_MISSING', `${where}: no index`, {
      hint: 'publish the cache with `ferry cache push DIR …`, or check the URL',
    });
  const env = readEnvelope(bytes, where);
  const signedBytes = Buffer.from(canonicalJson(env.signed));
  const signer = checkIndexSignature(trust, signedBytes, env.signatures, where);
  const index = parseIndex(signedBytes, where);
  const sha256 = sha256Bytes(signedBytes);
  const stateFile = join(store.rootDir, 'var', 'cache-state', `${storeHash(source.url)}.json`);
  const seen = await readSeen(stateFile);
  checkFreshness(index, sha256, seen, now, source.url);
  const cache = { source, index, signer };
  if (seen?.version === index.version) return { cache, remembered: Promise.resolve() };
  const seenNow: SeenIndex = { url: source.url, version: index.version, sha256 };
  const remembered = fs
    .mkdir(dirname(stateFile), { recursive: true })
    .then(() => writeFileAtomic(stateFile, `${JSON.stringify(seenNow)}\n`));
  remembered.catch(() => undefined); // awaited by the caller; not an unhandled rejection meanwhile
  return { cache, remembered };
}

function checkIndexSignature(trust: TrustOptions, bytes: Buffer, sigs: readonly string[], where: string) {
  let last: unknown;
  for (const sig of sigs.length > 0 ? sigs : [undefined]) {
    try {
      return verifyBytes(trust.trusted, bytes, sig, `cache index ${where}`);
    } catch (e) {
      last = e;
    }
  }
  const skippable = isAppError(last) && (last.code === 'E_SIG_MISSING' || last.code === 'E_SIG_UNTRUSTED');
  if (skippable && trust.allowUntrusted) return undefined;
  throw last;
}

async function readSeen(file: string): Promise<SeenIndex | undefined> {
  const text = await readTextIfExists(file);
  return text === undefined ? undefined : (JSON.parse(text) as SeenIndex);
}

interface Found {
  readonly cache: OpenedCache;
  readonly manifest: PackageManifest;
}

export interface SubstituteResult {
  readonly installed: readonly StoreId[];
  /** Wanted paths no cache had (or whose cache failed): to be built. */
  readonly missing: readonly StoreId[];
}

/**
 * Install the wanted store paths (and the references they need) from the first cache that has each, instead
 * of building them. Cache failures are warnings: what cannot be substituted is built.
 *
 * One pass: a package is fetched and extracted as soon as its manifest is read and checked (the manifests of
 * its references are read meanwhile), in worker threads when there are several, largest first, so the last
 * extraction is a short one. A download goes straight into its extractor, never through a temporary file. A
 * package is registered once everything it references is.
 */
export async function substitute(
  store: Store,
  urls: readonly string[],
  wanted: readonly StoreId[],
  opts: SubstituteOptions,
): Promise<SubstituteResult> {
  const need = store.missing(wanted);
  if (need.length === 0 || urls.length === 0) return { installed: [], missing: need };
  // Started now, the workers boot while the cache's index and manifests are read.
  const workers = ExtractPool.forPackages(need.length, opts.parallel);
  workers?.start();
  const remembered: Promise<void>[] = [];
  let closed: Promise<void> | undefined;
  try {
    const caches = await openAll(store, urls, remembered, opts);
    const ready = await stageAll(store, caches, need, workers, opts);
    // Idle from here: they end while the store syncs, not after.
    closed = workers?.close();
    const installed = await registerStaged(store, ready, opts.reporter);
    await Promise.all(remembered);
    return { installed, missing: need.filter((id) => !installed.includes(id)) };
  } finally {
    await Promise.allSettled(remembered);
    await (closed ?? workers?.close());
  }
}

/** The caches that pass openCache's checks; the writes that remember their versions go into `remembered`. */
async function openAll(
  store: Store,
  urls: readonly string[],
  remembered: Promise<void>[],
  opts: SubstituteOptions,
): Promise<OpenedCache[]> {
  const out: OpenedCache[] = [];
  for (const url of urls) {
    try {
      const r = await readCache(store, url, opts.trust, opts.now, opts.stallMs);
      out.push(r.cache);
      remembered.push(r.remembered);
    } catch (e) {
      if (!isAppError(e)) throw e;
      const hint = e.hint === undefined ? '' : `\n  hint: ${e.hint}`;
      opts.reporter.warn(e.code, `${e.message}; not using this cache${hint}`);
    }
  }
  return out;
}

/**
 * Every path in `need` and the references they lack, each from the first cache that has it, extracted and
 * checked under temporary names (holding their locks), in an order where each comes after its references.
 */
async function stageAll(
  store: Store,
  caches: readonly OpenedCache[],
  need: readonly StoreId[],
  workers: ExtractPool | undefined,
  opts: SubstituteOptions,
): Promise<StagedPackage[]> {
  /** Staged, in an order where each package comes after its references: registered together at the end. */
  const ready: StagedPackage[] = [];
  const stageLimit = largestFirst(workers?.capacity ?? 2);
  const order: Order = { read: largestFirst(MANIFEST_READS), turn: turnsLargestFirst() };
  /** Whether the path is in the store, or staged in `ready`, by the time the promise settles. */
  const present = new Map<StoreId, Promise<boolean>>();
  /**
   * The first failure that is not the cache's (a full disk, a bug): no package starts after it, and it is thrown
   * once those under way have ended, so no extraction is left running (or starting on a closed pool).
   */
  let fatal: { error: unknown } | undefined;
  const installOne = async (id: StoreId): Promise<boolean> => {
    if (await store.has(id)) return true;
    const f = await findOne(caches, id, order, opts);
    if (f === undefined) return false;
    const refs = f.manifest.references.filter((r) => r !== id);
    const refsOk = Promise.all(refs.map(visit)).then((ok) => ok.every(Boolean));
    refsOk.catch(() => undefined); // awaited below unless staging fails; a bug in a reference surfaces there too
    const size = f.cache.index.packages[id]?.archiveSize ?? 0;
    try {
      const staged = await stageLimit(size, async () => {
        if (fatal !== undefined) throw fatal.error;
        // Marked before the slot is handed on, so the next package does not start.
        return fetchAndStage(store, f, id, workers, opts).catch((e: unknown) => {
          if (!isAppError(e)) fatal ??= { error: e };
          throw e;
        });
      });
      if (staged === undefined) return true;
      if (!(await refsOk)) {
        await staged.discard();
        throw new AppError('E_CACHE_MISSING', `${id}: a path it references could not be substituted`);
      }
      ready.push(staged);
      return true;
    } catch (e) {
      if (!isAppError(e)) throw e;
      opts.reporter.warn(e.code, `${e.message}; will build ${id} instead`);
      return false;
    }
  };
  const settled = (id: StoreId): Promise<boolean> =>
    installOne(id).catch((e: unknown) => {
      fatal ??= { error: e };
      return false;
    });
  const visit = (id: StoreId): Promise<boolean> => {
    let p = present.get(id);
    if (p === undefined) present.set(id, (p = settled(id)));
    return p;
  };
  const size = (id: StoreId) =>
    caches.find((c) => c.index.packages[id])?.index.packages[id]?.archiveSize ?? 0;
  await Promise.all([...need].sort((a, b) => size(b) - size(a)).map(visit));
  if (fatal !== undefined) {
    await Promise.all(ready.map((p) => p.discard()));
    throw fatal.error;
  }
  return ready;
}

/**
 * Every staged package into the store at once, once all are extracted: one syncfs then writes back all of
 * their data (Store.registerAll), where one per package would each wait for whatever the extracting workers
 * had just written.
 */
async function registerStaged(
  store: Store,
  ready: readonly StagedPackage[],
  reporter: Reporter,
): Promise<StoreId[]> {
  if (ready.length === 0) return [];
  // On a slow disk this is the longest wait of an install, and it makes no progress of its own to show.
  const bytes = ready.reduce((n, p) => n + treeBytes(p.entry.meta.files), 0);
  const plural = ready.length === 1 ? '' : 's';
  reporter.start({
    id: 'sync',
    kind: 'sync',
    text: `${ready.length} store path${plural} (${(bytes / 1048576).toFixed(1)} MB) to disk`,
  });
  try {
    await store.registerAll(ready.map((p) => p.entry));
    reporter.finish('sync', 'ok');
  } catch (e) {
    reporter.finish('sync', 'failed', messageOf(e));
    await Promise.all(ready.map((p) => p.discard()));
    throw e;
  }
  // Registered: nothing is left under their temporary names, and their locks go.
  await Promise.all(ready.map((p) => p.discard()));
  return ready.map((p) => p.entry.meta.id);
}

/**
 * Manifests asked for at once (two requests each). All fifty at once over HTTP opened a hundred connections and
 * the largest package's pair came in among the last, 35-50 ms after the index; a few at a time, largest first,
 * it comes first and the rest follow while it is extracted.
 */
const MANIFEST_READS = 8;

/** The order packages are looked at in: largest first, so the longest extractions start first. */
interface Order {
  /** At most MANIFEST_READS packages' manifests are being read at a time. */
  readonly read: <T>(size: number, task: () => Promise<T>) => Promise<T>;
  /** One package's manifest is checked per turn of the event loop (turnsLargestFirst). */
  readonly turn: (size: number) => Promise<void>;
}

async function findOne(caches: readonly OpenedCache[], id: StoreId, order: Order, opts: SubstituteOptions) {
  for (const cache of caches) {
    const entry = cache.index.packages[id];
    if (entry === undefined) continue;
    const where = `${cache.source.url}/${PKG_DIR}/${id}.json`;
    try {
      const [bytes, sig] = await order.read(entry.archiveSize, () =>
        Promise.all([
          cache.source.read(`${PKG_DIR}/${id}.json`),
          cache.source.read(`${PKG_DIR}/${id}.json.sig`),
        ]),
      );
      await order.turn(entry.archiveSize);
      if (bytes === undefined || sha256Bytes(bytes) !== entry.manifestSha256)
        throw new AppError(
          'E_CACHE_DOWNLOAD',
          `${where}: ${bytes === undefined ? 'missing' : `sha256 ${sha256Bytes(bytes)}`}, the signed index says ${entry.manifestSha256}`,
          { hint: 'the cache is damaged: push the package again' },
        );
      const manifest = openManifest(bytes, sig?.toString('utf8'), where, opts.trust);
      checkPlatform(manifest, opts.host);
      return { cache, manifest };
    } catch (e) {
      if (!isAppError(e)) throw e;
      opts.reporter.warn(e.code, `${e.message}; will build ${id} instead`);
    }
  }
  return undefined;
}

/** One package from its cache into the store under a temporary name, reported as a fetch with progress. */
async function fetchAndStage(
  store: Store,
  f: Found,
  id: StoreId,
  workers: ExtractPool | undefined,
  opts: SubstituteOptions,
) {
  const entry = f.cache.index.packages[id];
  if (entry === undefined) throw new Error(`Assertion failed: ${id} left the index`);
  const rel = `${PKG_DIR}/${id}.tar.gz`;
  const act = `fetch:${id}`;
  const mb = (n: number) => (n / 1048576).toFixed(1);
  opts.reporter.start({
    id: act,
    kind: 'fetch',
    text: `${f.manifest.name} ${f.manifest.version} (${mb(entry.archiveSize)} MB)`,
  });
  let got = 0;
  let shown = 0;
  const onBytes = (n: number) => {
    got += n;
    if (got - shown < 4 * 1048576) return;
    shown = got;
    opts.reporter.progress(act, `${mb(got)} of ${mb(entry.archiveSize)} MB`);
  };
  try {
    const input = await f.cache.source.input(rel, { sha256: entry.archiveSha256, size: entry.archiveSize });
    const where = `${f.cache.source.url}/${rel}`;
    const staged = await stagePackage(store, f.manifest, input, where, workers?.extract, onBytes);
    opts.reporter.finish(act, 'ok');
    return staged;
  } catch (e) {
    opts.reporter.finish(act, 'failed', messageOf(e));
    throw e;
  }
}

function treeBytes(files: StoreMeta['files']): number {
  let n = 0;
  for (const f of Object.values(files)) if (f.type === 'file') n += f.size;
  return n;
}
