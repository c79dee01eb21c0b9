import { AppError, type Sha256 } from '../core/index.js';

/** `<hash>-<name>-<version>`: the directory name of a store path. */
export type StoreId = string & { readonly __brand: 'StoreId' };

const STORE_ID_RE = /^[0-9a-df-np-sv-z]{32}-[a-z0-9][a-z0-9+._-]*-[0-9A-Za-z.+~:_-]+$/;

export function tryParseStoreId(s: string): StoreId | undefined {
  return STORE_ID_RE.test(s) ? (s as StoreId) : undefined;
}

export function parseStoreId(s: string): StoreId {
  const id = tryParseStoreId(s);
  if (id === undefined)
    throw new AppError('E_STORE_PATH', `"${s}" is not a store path name`, {
      hint: 'store path names look like <32 base32 chars>-<name>-<version>; see `ferry generations`',
    });
  return id;
}

export type FileRecord =
  | { readonly type: 'file'; readonly sha256: Sha256; readonly size: number; readonly executable: boolean }
  | { readonly type: 'symlink'; readonly target: string }
  | { readonly type: 'dir' };

export const META_FORMAT_VERSION = 1;

/** Everything ferry knows about a store path. Written before the path appears; immutable except for relocation. */
export interface StoreMeta {
  readonly formatVersion: number;
  readonly id: StoreId;
  readonly name: string;
  readonly version: string;
  readonly slot: string;
  readonly options: Readonly<Record<string, boolean>>;
  readonly license: string;
  readonly summary: string;
  readonly recipeHash: Sha256;
  readonly sourceHashes: readonly Sha256[];
  /** Store paths this one needs at run time (its run dependencies), not transitively. */
  readonly references: readonly StoreId[];
  /** Store paths that were visible to its build (build and run dependencies' closures). */
  readonly buildInputs: readonly StoreId[];
  readonly platform: { readonly os: string; readonly arch: string; readonly minGlibc?: string };
  readonly files: Readonly<Record<string, FileRecord>>;
  /** Files that embed the root's path; `ferry relocate` rewrites exactly these. */
  readonly rootPathFiles: readonly string[];
  /** The root path those files embed right now. */
  readonly embeddedRoot: string;
  readonly builtAt: string;
}

export function parseMeta(text: string, file: string): StoreMeta {
  const m = JSON.parse(text) as StoreMeta;
  if (typeof m.formatVersion !== 'number' || m.formatVersion > META_FORMAT_VERSION)
    throw new AppError(
      'E_STORE_FORMAT',
      `${file} has formatVersion ${m.formatVersion}; this ferry reads up to ${META_FORMAT_VERSION}`,
      {
        hint: 'upgrade ferry to read this store',
      },
    );
  return m;
}
