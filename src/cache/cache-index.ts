import { AppError, tryParseSha256, type Sha256 } from '../core/index.js';
import type { StoreId } from '../store/index.js';

export const INDEX_FORMAT_VERSION = 1;

export interface IndexEntry {
  readonly manifestSha256: Sha256;
  readonly archiveSha256: Sha256;
  readonly archiveSize: number;
}

/**
 * The signed list of what a cache holds. Like The Update Framework's timestamp/snapshot metadata it carries a
 * version that only grows and an expiry date: a client remembers the highest version it has seen per cache and
 * refuses older ones (rollback: replaying an old index to hide a fix) and expired ones (freeze: a mirror that
 * stopped updating, or an attacker withholding updates).
 */
export interface CacheIndex {
  readonly formatVersion: number;
  readonly kind: 'ferry-cache-index';
  readonly version: number;
  readonly expires: string;
  readonly packages: Readonly<Record<string, IndexEntry>>;
}

/** What a client remembers about one cache. */
export interface SeenIndex {
  readonly url: string;
  readonly version: number;
  readonly sha256: Sha256;
}

export function serializeIndex(index: CacheIndex): Buffer {
  const packages = Object.fromEntries(Object.entries(index.packages).sort(([a], [b]) => (a < b ? -1 : 1)));
  return Buffer.from(`${JSON.stringify({ ...index, packages }, null, 1)}\n`);
}

export function nextIndex(
  previous: CacheIndex | undefined,
  add: ReadonlyMap<StoreId, IndexEntry>,
  now: Date,
  validDays: number,
): CacheIndex {
  return {
    formatVersion: INDEX_FORMAT_VERSION,
    kind: 'ferry-cache-index',
    version: (previous?.version ?? 0) + 1,
    expires: new Date(now.getTime() + validDays * 86_400_000).toISOString(),
    packages: { ...(previous?.packages ?? {}), ...Object.fromEntries(add) },
  };
}

export function parseIndex(bytes: Uint8Array, url: string): CacheIndex {
  const bad = (why: string): never => {
    throw new AppError('E_PKG_FORMAT', `${url}: the cache index ${why}`, {
      hint: 'the cache is damaged or not a ferry cache; re-publish it with `ferry cache push`',
    });
  };
  let x: Record<string, unknown>;
  try {
    x = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>;
  } catch {
    return bad('is not JSON');
  }
  if (x.kind !== 'ferry-cache-index') bad('is not a ferry cache index');
  if (typeof x.formatVersion !== 'number' || x.formatVersion > INDEX_FORMAT_VERSION)
    throw new AppError('E_PKG_FORMAT', `${url}: the cache index has a newer formatVersion`, {
      hint: 'upgrade ferry',
    });
  if (!Number.isSafeInteger(x.version) || (x.version as number) < 1) bad('has no valid version');
  if (typeof x.expires !== 'string' || Number.isNaN(Date.parse(x.expires))) bad('has no valid expiry date');
  if (typeof x.packages !== 'object' || x.packages === null) bad('has no packages table');
  for (const [id, e] of Object.entries(x.packages as Record<string, Record<string, unknown>>))
    if (
      tryParseSha256(String(e.manifestSha256)) === undefined ||
      tryParseSha256(String(e.archiveSha256)) === undefined ||
      typeof e.archiveSize !== 'number'
    )
      bad(`has a malformed entry for ${id}`);
  return x as unknown as CacheIndex;
}

/** Refuse an index older than one seen before, a different one under the same version, or an expired one. */
export function checkFreshness(
  index: CacheIndex,
  sha256: Sha256,
  seen: SeenIndex | undefined,
  now: Date,
  url: string,
): void {
  if (
    seen !== undefined &&
    (index.version < seen.version || (index.version === seen.version && sha256 !== seen.sha256))
  )
    throw new AppError(
      'E_CACHE_ROLLBACK',
      `${url}: the index has version ${index.version}, but this root has seen version ${seen.version}` +
        (index.version === seen.version ? ' with other contents' : ''),
      {
        hint: 'a stale mirror or a replayed index; use an up-to-date cache (if the cache was rebuilt on purpose, delete its file under <root>/var/cache-state/)',
      },
    );
  if (Date.parse(index.expires) < now.getTime())
    throw new AppError('E_CACHE_EXPIRED', `${url}: the index expired on ${index.expires}`, {
      hint: "a frozen mirror or withheld updates; ask the cache's owner to re-publish it (`ferry cache push` re-signs the index)",
    });
}
