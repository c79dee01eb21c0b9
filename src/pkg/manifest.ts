import { AppError, tryParseSha256, type Sha256 } from '../core/index.js';
import { tryParseStoreId, type FileRecord, type StoreMeta } from '../store/index.js';

export const PKG_FORMAT_VERSION = 1;

/**
 * What a binary package says about itself, signed as a whole: the store path's metadata (name, version,
 * options, references, platform, every file's hash, the files that embed the root's path) plus the archive's
 * own hash. The signature covers the manifest's exact bytes, so the archive is covered through its hash.
 */
export type PackageManifest = Omit<StoreMeta, 'formatVersion' | 'buildInputs'> & {
  readonly formatVersion: number;
  readonly kind: 'ferry-package';
  readonly archive: { readonly sha256: Sha256; readonly size: number; readonly compression: 'gzip' };
};

export function manifestOf(meta: StoreMeta, archive: PackageManifest['archive']): PackageManifest {
  // The store's formatVersion is not the package's; what the build saw (buildInputs) is not needed to install.
  const rest = without(meta, ['formatVersion', 'buildInputs']);
  return { formatVersion: PKG_FORMAT_VERSION, kind: 'ferry-package', ...rest, archive };
}

export function serializeManifest(m: PackageManifest): Buffer {
  return Buffer.from(`${JSON.stringify(m, null, 1)}\n`);
}

/** The store metadata a manifest becomes once its files are in place under `root`. */
export function metaOf(m: PackageManifest, files: PackageManifest['files'], root: string): StoreMeta {
  const rest = without(m, ['formatVersion', 'kind', 'archive']);
  return { formatVersion: 1, ...rest, buildInputs: [], files, embeddedRoot: root };
}

function without<T extends object, K extends keyof T>(o: T, keys: readonly K[]): Omit<T, K> {
  return Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k as K))) as Omit<T, K>;
}

/** Validates everything the installer relies on; a cache's manifest is attacker-controlled until verified. */
export function parseManifest(bytes: Uint8Array, what: string): PackageManifest {
  const bad = (why: string): never => {
    throw new AppError('E_PKG_FORMAT', `${what}: ${why}`, {
      hint: 'the package is damaged or was not made by `ferry pack`; pack it again',
    });
  };
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(Buffer.from(bytes).toString('utf8')) as Record<string, unknown>;
  } catch {
    return bad('not JSON');
  }
  if (m?.kind !== 'ferry-package') bad('not a ferry package manifest');
  if (typeof m.formatVersion !== 'number' || m.formatVersion > PKG_FORMAT_VERSION)
    throw new AppError(
      'E_PKG_FORMAT',
      `${what} has formatVersion ${String(m.formatVersion)}; this ferry reads up to ${PKG_FORMAT_VERSION}`,
      { hint: 'upgrade ferry' },
    );
  if (typeof m.id !== 'string' || tryParseStoreId(m.id) === undefined)
    bad('field id is not a store path name');
  for (const f of ['name', 'version', 'slot', 'license', 'summary', 'embeddedRoot', 'builtAt'])
    if (typeof m[f] !== 'string') bad(`field ${f} is not a string`);
  const refs = m.references;
  if (!Array.isArray(refs) || refs.some((r) => typeof r !== 'string' || tryParseStoreId(r) === undefined))
    bad('field references is not a list of store path names');
  checkFiles(m.files, bad);
  const rootFiles = m.rootPathFiles;
  const files = m.files as Record<string, FileRecord>;
  if (!Array.isArray(rootFiles) || rootFiles.some((f) => typeof f !== 'string' || files[f]?.type !== 'file'))
    bad('field rootPathFiles names something that is not a file of the package');
  const a = m.archive as Record<string, unknown> | undefined;
  if (typeof a?.sha256 !== 'string' || tryParseSha256(a.sha256) === undefined || typeof a.size !== 'number')
    bad('field archive needs sha256 and size');
  const p = m.platform as Record<string, unknown> | undefined;
  if (typeof p?.os !== 'string' || typeof p.arch !== 'string') bad('field platform needs os and arch');
  return m as unknown as PackageManifest;
}

function checkFiles(files: unknown, bad: (why: string) => never): void {
  if (typeof files !== 'object' || files === null) bad('field files is missing');
  for (const [rel, r] of Object.entries(files as Record<string, unknown>)) {
    if (!isSafeRel(rel)) bad(`file "${rel}" is not a plain relative path`);
    const rec = r as Record<string, unknown>;
    const ok =
      rec.type === 'dir' ||
      (rec.type === 'symlink' && typeof rec.target === 'string') ||
      (rec.type === 'file' &&
        typeof rec.sha256 === 'string' &&
        tryParseSha256(rec.sha256) !== undefined &&
        typeof rec.size === 'number' &&
        typeof rec.executable === 'boolean');
    if (!ok) bad(`file "${rel}" has a malformed record`);
  }
}

/** A component that is empty, '.' or '..': at the start, between slashes, or at the end. */
const BAD_COMPONENT = /(?:^|\/)\.{0,2}(?:\/|$)/;

/** One regular expression, not a split per name: a manifest names thousands of entries. */
function isSafeRel(rel: string): boolean {
  return !BAD_COMPONENT.test(rel) && !rel.includes('\0');
}

/** glibc versions compare numerically per component: 2.9 < 2.28. */
export function glibcAtMost(need: string, have: string): boolean {
  const a = need.split('.').map(Number);
  const b = have.split('.').map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x < y;
  }
  return true;
}
