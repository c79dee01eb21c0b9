import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../platform/index.js';
import { AppError } from '../core/index.js';
import type { Store, StoreId, StoreMeta } from '../store/index.js';
import { symlinkEscape } from './tar.js';
import { writeArchive } from './archive.js';
import { signBytes, type SecretKey } from './keys.js';
import { manifestOf, serializeManifest, type PackageManifest } from './manifest.js';

/** The three files of a binary package, named after its store path. */
export function packageFiles(dir: string, id: StoreId) {
  return {
    archive: join(dir, `${id}.tar.gz`),
    manifest: join(dir, `${id}.json`),
    signature: join(dir, `${id}.json.sig`),
  };
}

export interface PackResult {
  readonly id: StoreId;
  readonly manifest: PackageManifest;
  readonly files: ReturnType<typeof packageFiles>;
}

/**
 * Pack a store path: the archive first, then the manifest that names the archive's hash, then the signature
 * over the manifest's bytes. Each file is written atomically, and a reader takes a package only through its
 * signature, so a half-written package is never used.
 */
export async function packStorePath(
  store: Store,
  id: StoreId,
  outDir: string,
  key: SecretKey,
): Promise<PackResult> {
  const meta = await store.readMeta(id);
  checkLinks(meta.id, meta.files);
  const files = packageFiles(outDir, id);
  const a = await writeArchive(store.pathOf(id), files.archive);
  const size = (await stat(files.archive)).size;
  const manifest = manifestOf(meta, { sha256: a.sha256, size, compression: 'gzip' });
  const bytes = serializeManifest(manifest);
  await writeFileAtomic(files.manifest, bytes);
  await writeFileAtomic(files.signature, `${signBytes(key, bytes)}\n`);
  return { id, manifest, files };
}

/** A link out of the store path would be refused by every installer: say so when packing, not far away. */
function checkLinks(id: StoreId, files: StoreMeta['files']): void {
  const links = new Map<string, string>();
  for (const [rel, r] of Object.entries(files)) if (r.type === 'symlink') links.set(rel, r.target);
  for (const [rel, target] of links) {
    const why = symlinkEscape(rel, target, links);
    if (why !== undefined)
      throw new AppError('E_ARCHIVE_UNSAFE', `${id}/${rel} ${why}: a package must not link outside itself`, {
        hint: 'make the recipe install a relative link inside $PREFIX (or a copy) instead',
      });
  }
}
