import * as fs from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AppError, canonicalJson, isAppError, sha256Bytes, storeHash, type Reporter } from '../core/index.js';
import { readTextIfExists, writeFileAtomic } from '../platform/index.js';
import {
  checkPlatform,
  ExtractPool,
  stagePackage,
  openManifest,
  verifyBytes,
  type HostPlatform,
  type PackageManifest,
  type TrustOptions,
} from '../pkg/index.js';
import type { Store, StoreId } from '../store/index.js';
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
): Promise<OpenedCache> {
  const source = openSource(url);
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
  await fs.mkdir(dirname(stateFile), { recursive: true });
  if (seen?.version !== index.version)
    await writeFileAtomic(
      stateFile,
      `${JSON.stringify({ url: source.url, version: index.version, sha256 } satisfies SeenIndex)}\n`,
    );
  return { source, index, signer };
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
 */
export async function substitute(
  store: Store,
  urls: readonly string[],
  wanted: readonly StoreId[],
  opts: SubstituteOptions,
): Promise<SubstituteResult> {
  const need = store.missing(wanted);
  if (need.length === 0 || urls.length === 0) return { installed: [], missing: need };
  const caches = await openAll(store, urls, opts);
  const found = await findAll(store, caches, need, opts);
  const installed = await fetchAndInstall(store, found, opts);
  return { installed, missing: need.filter((id) => !installed.includes(id)) };
}

async function openAll(
  store: Store,
  urls: readonly string[],
  opts: SubstituteOptions,
): Promise<OpenedCache[]> {
  const out: OpenedCache[] = [];
  for (const url of urls) {
    try {
      out.push(await openCache(store, url, opts.trust, opts.now));
    } catch (e) {
      if (!isAppError(e)) throw e;
      opts.reporter.warn(e.code, `${e.message}; not using this cache`);
    }
  }
  return out;
}

/**
 * The manifests of every wanted path and of the references they need, from the first cache that has each. Read
 * side by side: each manifest names the next ones to read.
 */
async function findAll(
  store: Store,
  caches: readonly OpenedCache[],
  need: readonly StoreId[],
  opts: SubstituteOptions,
) {
  const found = new Map<StoreId, Found>();
  const seen = new Set<StoreId>();
  const visit = async (id: StoreId): Promise<void> => {
    if (seen.has(id)) return;
    seen.add(id);
    if (await store.has(id)) return;
    const f = await findOne(caches, id, opts);
    if (f === undefined) return;
    found.set(id, f);
    await Promise.all(f.manifest.references.map(visit));
  };
  await Promise.all(need.map(visit));
  return found;
}

async function findOne(caches: readonly OpenedCache[], id: StoreId, opts: SubstituteOptions) {
  for (const cache of caches) {
    const entry = cache.index.packages[id];
    if (entry === undefined) continue;
    const where = `${cache.source.url}/${PKG_DIR}/${id}.json`;
    try {
      const [bytes, sig] = await Promise.all([
        cache.source.read(`${PKG_DIR}/${id}.json`),
        cache.source.read(`${PKG_DIR}/${id}.json.sig`),
      ]);
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

/**
 * Packages are fetched and extracted side by side (in worker threads when there are several): a download goes
 * straight into its extractor, never through a temporary file. They are registered in dependency order, each
 * after the packages it references.
 */
async function fetchAndInstall(store: Store, found: ReadonlyMap<StoreId, Found>, opts: SubstituteOptions) {
  const installed: StoreId[] = [];
  const installs = new Map<StoreId, Promise<boolean>>();
  const workers = ExtractPool.forPackages(found.size, opts.parallel);
  const stageLimit = pool(workers?.size ?? 2);
  const installOne = (id: StoreId): Promise<boolean> => {
    const known = installs.get(id);
    if (known !== undefined) return known;
    const f = found.get(id);
    const p = (async () => {
      if (f === undefined) return true; // present already, or not from a cache
      const refs = f.manifest.references.filter((r) => r !== id && found.has(r));
      const refsOk = Promise.all(refs.map(installOne)).then((ok) => ok.every(Boolean));
      try {
        const staged = await stageLimit(() => fetchAndStage(store, f, id, workers, opts));
        if (staged === undefined) return true;
        if (!(await refsOk)) {
          await staged.discard();
          throw new Error('a dependency could not be substituted');
        }
        await staged.commit();
        installed.push(id);
        return true;
      } catch (e) {
        if (!isAppError(e) && !(e instanceof Error && e.message.startsWith('a dependency'))) throw e;
        opts.reporter.warn(isAppError(e) ? e.code : undefined, `${e.message}; will build ${id} instead`);
        return false;
      }
    })();
    installs.set(id, p);
    return p;
  };
  try {
    await Promise.all(dependencyOrder(found).map(installOne));
  } finally {
    await workers?.close();
  }
  return installed;
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
    opts.reporter.finish(act, 'failed', e instanceof Error ? e.message : String(e));
    throw e;
  }
}

function dependencyOrder(found: ReadonlyMap<StoreId, Found>): StoreId[] {
  const out: StoreId[] = [];
  const seen = new Set<StoreId>();
  const visit = (id: StoreId) => {
    if (seen.has(id)) return;
    seen.add(id);
    for (const r of found.get(id)?.manifest.references ?? []) if (r !== id) visit(r);
    out.push(id);
  };
  for (const id of [...found.keys()].sort()) visit(id);
  return out;
}

/** At most `n` of the given tasks run at once. */
function pool(n: number) {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (running >= n) await new Promise<void>((r) => waiting.push(r));
    running++;
    try {
      return await task();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}
