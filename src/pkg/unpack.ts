import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { AppError, isAppError, type Sha256 } from '../core/index.js';
import { removeTree, tempSibling } from '../platform/index.js';
import { rewriteBytes, type FileRecord, type Registration, type Store } from '../store/index.js';
import type { ExtractedFile } from './untar.js';
import { extractHashed, type Extractor } from './extract.js';
import type { ArchiveInput } from './input.js';
import { verifyBytes, type PublicKey } from './keys.js';
import { glibcAtMost, metaOf, parseManifest, type PackageManifest } from './manifest.js';

export interface HostPlatform {
  readonly os: string;
  readonly arch: string;
  /** This machine's glibc, e.g. "2.36"; undefined where there is none (then no glibc check). */
  readonly glibc: string | undefined;
}

export interface TrustOptions {
  readonly trusted: readonly PublicKey[];
  /** Accept unsigned packages and unknown signers (never a signature that does not verify). */
  readonly allowUntrusted: boolean;
}

/** Check the signature and the manifest, before anything is extracted. */
export function openManifest(
  bytes: Uint8Array,
  signature: string | undefined,
  what: string,
  trust: TrustOptions,
) {
  try {
    verifyBytes(trust.trusted, bytes, signature, what);
  } catch (e) {
    const skippable = isAppError(e) && (e.code === 'E_SIG_MISSING' || e.code === 'E_SIG_UNTRUSTED');
    if (!skippable || !trust.allowUntrusted) throw e;
  }
  return parseManifest(bytes, what);
}

/** A binary built for another arch or a newer glibc fails at run time, far from the cause: refuse it here. */
export function checkPlatform(m: PackageManifest, host: HostPlatform): void {
  const where = `${m.name} ${m.version} (${m.id})`;
  if (m.platform.os !== host.os || m.platform.arch !== host.arch)
    throw new AppError(
      'E_PKG_PLATFORM',
      `${where} is built for ${m.platform.os}/${m.platform.arch}; this machine is ${host.os}/${host.arch}`,
      { hint: 'use a cache built on this arch, or build from source with --no-substitute' },
    );
  const need = m.platform.minGlibc;
  if (need !== undefined && host.glibc !== undefined && !glibcAtMost(need, host.glibc))
    throw new AppError(
      'E_PKG_PLATFORM',
      `${where} needs glibc ${need}; this machine has ${host.glibc} (it would fail with "version GLIBC_${need} not found")`,
      { hint: 'build it here from source (--no-substitute), or on a machine with an older glibc' },
    );
}

/**
 * Install a verified package into the store: extract into a temporary directory, check every entry against the
 * signed manifest (extractHashed says when the archive's own hash is checked), move embedded root paths to this
 * root, then register in one rename. Returns false when the path was already there.
 */
export async function installPackage(
  store: Store,
  m: PackageManifest,
  archivePath: string,
  what: string,
): Promise<boolean> {
  const staged = await stagePackage(store, m, { kind: 'file', path: archivePath }, what);
  if (staged === undefined) return false;
  await staged.commit();
  return true;
}

/**
 * A package extracted and verified under a temporary name, holding its store lock: commit() it, or register
 * `entry` with others (Store.registerAll) and then discard() what is left (nothing), or discard() it.
 */
export interface StagedPackage {
  readonly entry: Registration;
  /** Registers it (its references must be in the store by now), then releases the lock. */
  commit(): Promise<void>;
  /** Removes whatever is still under the temporary name, then releases the lock. */
  discard(): Promise<void>;
}

/**
 * The first half of an install, which needs nothing else in the store: packages are staged side by side (in
 * `extract`'s worker threads) and committed in dependency order. Undefined when the path is there already.
 */
export async function stagePackage(
  store: Store,
  m: PackageManifest,
  input: ArchiveInput,
  what: string,
  extract: Extractor = extractHashed,
  onBytes?: (n: number) => void,
): Promise<StagedPackage | undefined> {
  if (await store.has(m.id)) return undefined;
  const lock = await store.lock(m.id);
  const tmp = store.tempOutName(m.id);
  const discard = async () => {
    try {
      await removeTree(tmp);
    } finally {
      await lock.release();
    }
  };
  try {
    if (await store.has(m.id)) {
      await discard();
      return undefined;
    }
    // A package that needs no relocation is extracted as the store keeps it: no pass over its files later.
    const readOnly = !needsRelocation(m, store.rootDir);
    const extracted = await extract({ input, target: tmp, what, want: m.archive.sha256, readOnly }, onBytes);
    const files = checkFiles(m, extracted, what);
    const moved = readOnly ? files : await relocateInto(tmp, m, files, store.rootDir);
    const entry = { tmpDir: tmp, meta: metaOf(m, moved, store.rootDir), readOnly };
    const commit = async () => {
      try {
        await store.registerAll([entry]);
      } finally {
        await discard();
      }
    };
    return { entry, commit, discard };
  } catch (e) {
    await discard();
    throw e;
  }
}

/** Every entry must be in the manifest with the same content, and every manifest entry must be present. */
function checkFiles(m: PackageManifest, got: readonly ExtractedFile[], what: string) {
  const seen = new Set<string>();
  for (const e of got) {
    const want = m.files[e.path];
    const problem = want === undefined ? 'is not in the signed manifest' : differs(want, e);
    if (problem !== undefined)
      throw new AppError('E_PKG_HASH', `${what}: ${e.path} ${problem}`, {
        hint: 'the archive was altered or damaged: download it again',
      });
    seen.add(e.path);
  }
  const missing = Object.keys(m.files).filter((f) => !seen.has(f));
  if (missing.length > 0)
    throw new AppError('E_PKG_HASH', `${what}: the archive lacks ${missing.slice(0, 3).join(', ')}`, {
      hint: 'the archive was altered or damaged: download it again',
    });
  return m.files;
}

function differs(want: FileRecord, e: ExtractedFile): string | undefined {
  if (want.type !== e.kind) return `is a ${e.kind}, the manifest says ${want.type}`;
  if (want.type === 'symlink' && want.target !== e.linkTarget) return `points to ${String(e.linkTarget)}`;
  if (want.type === 'file') {
    if (want.sha256 !== e.sha256) return `has sha256 ${String(e.sha256)}, the manifest says ${want.sha256}`;
    if (want.executable !== ((e.mode & 0o111) !== 0)) return 'has another executable bit than the manifest';
  }
  return undefined;
}

function needsRelocation(m: PackageManifest, root: string): boolean {
  return m.embeddedRoot !== root && m.rootPathFiles.length > 0;
}

/** Rewrite the files that embed the packing root's path to this root's; re-record their hashes. */
async function relocateInto(dir: string, m: PackageManifest, files: PackageManifest['files'], root: string) {
  const out: Record<string, FileRecord> = { ...files };
  for (const rel of m.rootPathFiles) {
    const path = join(dir, rel);
    const st = await fs.lstat(path);
    const bytes = rewriteBytes(await fs.readFile(path), m.embeddedRoot, root);
    if (bytes === 'too-long')
      throw new AppError(
        'E_RELOCATE',
        `${m.id}/${rel} embeds ${m.embeddedRoot} in a binary; ${root} is longer`,
        {
          hint: `this package installs only into roots of at most ${m.embeddedRoot.length} characters; build it here instead (--no-substitute)`,
        },
      );
    const tmp = tempSibling(path);
    await fs.writeFile(tmp, bytes, { mode: st.mode });
    await fs.rename(tmp, path);
    const sha256 = createHash('sha256').update(bytes).digest('hex') as Sha256;
    out[rel] = { type: 'file', sha256, size: bytes.length, executable: (st.mode & 0o111) !== 0 };
  }
  return out;
}

/** `ferry unpack FILE.json`: a package's three files side by side. */
export async function installPackageFiles(
  store: Store,
  manifestFile: string,
  trust: TrustOptions,
  host: HostPlatform,
) {
  const bytes = await fs.readFile(manifestFile);
  const sig = await fs.readFile(`${manifestFile}.sig`, 'utf8').catch(() => undefined);
  const m = openManifest(bytes, sig, manifestFile, trust);
  checkPlatform(m, host);
  const installed = await installPackage(store, m, manifestFile.replace(/\.json$/, '.tar.gz'), manifestFile);
  return { manifest: m, installed };
}
