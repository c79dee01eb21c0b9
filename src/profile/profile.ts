import { mkdirSync, readlinkSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { AppError, isErrno } from '../core/index.js';
import {
  FileLock,
  fsyncDir,
  isLockHeld,
  placeFile,
  readTextIfExists,
  removeTree,
  replaceSymlink,
  walkTree,
} from '../platform/index.js';
import type { Store, StoreId } from '../store/index.js';

export const GENERATION_FORMAT_VERSION = 1;
const MANIFEST = '.generation.json';

export interface GenerationPackage {
  readonly name: string;
  readonly version: string;
  readonly slot: string;
  readonly storeId: StoreId;
  readonly options: Readonly<Record<string, boolean>>;
  /** Asked for by the user (linked into the profile's view), as opposed to pulled in as a dependency. */
  readonly requested: boolean;
}

export interface GenerationManifest {
  readonly formatVersion: number;
  readonly number: number;
  readonly createdAt: string;
  /** What the user asked for, as dependency strings: re-resolved by the next install or remove. */
  readonly requests: readonly string[];
  /** The whole run-time closure. Every store path here is kept alive by this generation. */
  readonly packages: readonly GenerationPackage[];
  /** The generation that was current when this one was made (written by deploys; rollback goes there). */
  readonly previous?: number;
}

export interface GenerationInfo {
  readonly number: number;
  readonly current: boolean;
  readonly manifest: GenerationManifest;
}

const PROFILE_RE = /^[a-z0-9][a-z0-9._-]*$/;

/**
 * A profile `<root>/profiles/P` is a symlink to `P.d/N`, a generation: a merged view (bin/, lib/, share/…) of
 * symlinks into the store. Switching is one rename of that symlink, so a program started through the profile
 * sees the whole old or the whole new generation.
 */
export class Profile {
  readonly name: string;
  readonly linkPath: string;
  readonly gensDir: string;
  readonly storeDir: string;
  private readonly store: Store;

  constructor(store: Store, name: string) {
    if (!PROFILE_RE.test(name))
      throw new AppError('E_USAGE', `"${name}" is not a valid profile name`, {
        hint: 'use lowercase letters, digits, . _ -',
      });
    this.store = store;
    this.storeDir = store.storeDir;
    this.name = name;
    this.linkPath = join(store.rootDir, 'profiles', name);
    this.gensDir = join(store.rootDir, 'profiles', `${name}.d`);
  }

  async lock(): Promise<FileLock> {
    // Synchronous: the no-op install makes no other promise-based fs call, and loading fs/promises costs 2–3 ms.
    mkdirSync(this.gensDir, { recursive: true });
    return FileLock.acquire(join(this.gensDir, '.lock'));
  }

  current(): Promise<number | undefined> {
    try {
      const n = Number.parseInt(readlinkSync(this.linkPath).split('/').pop() ?? '', 10);
      return Promise.resolve(Number.isFinite(n) ? n : undefined);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return Promise.resolve(undefined);
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }

  async numbers(): Promise<number[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.gensDir);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return [];
      throw e;
    }
    return names
      .filter((n) => /^\d+$/.test(n))
      .map(Number)
      .sort((a, b) => a - b);
  }

  async read(n: number): Promise<GenerationManifest> {
    const file = join(this.gensDir, String(n), MANIFEST);
    const text = await readTextIfExists(file);
    if (text === undefined)
      throw new AppError('E_PROFILE_GENERATION', `profile ${this.name} has no generation ${n}`, {
        hint: `list them with: ferry generations --profile ${this.name}`,
      });
    const m = JSON.parse(text) as GenerationManifest;
    if (m.formatVersion > GENERATION_FORMAT_VERSION)
      throw new AppError(
        'E_STORE_FORMAT',
        `${file} has formatVersion ${m.formatVersion}; this ferry reads up to ${GENERATION_FORMAT_VERSION}`,
        {
          hint: 'upgrade ferry',
        },
      );
    return m;
  }

  async list(): Promise<GenerationInfo[]> {
    const cur = await this.current();
    const out: GenerationInfo[] = [];
    for (const n of await this.numbers())
      out.push({ number: n, current: n === cur, manifest: await this.read(n) });
    return out;
  }

  /** The current generation's manifest, or an empty one for a new profile. */
  async currentManifest(): Promise<GenerationManifest | undefined> {
    const cur = await this.current();
    return cur === undefined ? undefined : this.read(cur);
  }

  /** Build a new generation directory (not yet current): temp name, full tree, fsync, rename. */
  async create(requests: readonly string[], packages: readonly GenerationPackage[]): Promise<number> {
    await fs.mkdir(this.gensDir, { recursive: true });
    await this.cleanTemps();
    const number = Math.max(0, ...(await this.numbers())) + 1;
    const tmp = join(this.gensDir, `.tmp-${number}-${process.pid}`);
    await fs.mkdir(tmp);
    const manifest: GenerationManifest = {
      formatVersion: GENERATION_FORMAT_VERSION,
      number,
      createdAt: new Date().toISOString(),
      requests,
      packages,
    };
    try {
      await linkGeneration(this.store, tmp, this.name, packages);
      // Synced itself: a directory's fsync makes its entries durable, not the data of a file just written (after
      // a power cut, ext4 would keep a renamed generation with an empty manifest).
      await placeFile(join(tmp, MANIFEST), `${JSON.stringify(manifest, null, 1)}\n`);
      await syncTree(tmp);
      await fs.rename(tmp, join(this.gensDir, String(number)));
      await fsyncDir(this.gensDir);
    } catch (e) {
      await removeTree(tmp);
      throw e;
    }
    return number;
  }

  /** Make generation `n` current: one atomic symlink rename. */
  async switchTo(n: number): Promise<void> {
    await this.read(n);
    await replaceSymlink(`${this.name}.d/${n}`, this.linkPath);
  }

  async remove(n: number): Promise<void> {
    if ((await this.current()) === n)
      throw new Error(`Assertion failed: removing the current generation ${n}`);
    const grave = join(this.gensDir, `.tmp-rm-${n}`);
    await fs.rename(join(this.gensDir, String(n)), grave);
    await removeTree(grave);
  }

  private async cleanTemps(): Promise<void> {
    for (const name of await fs.readdir(this.gensDir))
      if (name.startsWith('.tmp-')) await removeTree(join(this.gensDir, name));
  }
}

/**
 * Fill `dir` with a generation's view: for each requested package, its tree as relative symlinks into the
 * store. Relative links make the same tree valid under any root with the same layout (a host's, an export's).
 * `placed` says where the tree and the store will be when it is used, if not where they are now.
 */
export async function linkGeneration(
  store: Store,
  dir: string,
  profileName: string,
  packages: readonly GenerationPackage[],
  placed: { readonly treeDir: string; readonly storeDir: string } = {
    treeDir: dir,
    storeDir: store.storeDir,
  },
): Promise<void> {
  const owner = new Map<string, GenerationPackage>();
  for (const pkg of packages.filter((p) => p.requested)) {
    const storePath = store.pathOf(pkg.storeId);
    for (const e of await walkTree(storePath)) {
      const dest = join(dir, e.rel);
      if (e.kind === 'dir') {
        await fs.mkdir(dest, { recursive: true });
        continue;
      }
      const prev = owner.get(e.rel);
      if (prev !== undefined) {
        if (await sameContent(store.pathOf(prev.storeId), storePath, e.rel)) continue;
        throw new AppError(
          'E_PROFILE_COLLISION',
          `${prev.name} ${prev.version} and ${pkg.name} ${pkg.version} both provide ${e.rel} in profile ${profileName}`,
          {
            hint: 'install one of them in another profile (--profile NAME), or remove one',
          },
        );
      }
      owner.set(e.rel, pkg);
      const from = dirname(join(placed.treeDir, e.rel));
      await fs.symlink(relative(from, join(placed.storeDir, pkg.storeId, e.rel)), dest);
    }
  }
}

async function sameContent(a: string, b: string, rel: string): Promise<boolean> {
  try {
    const [x, y] = await Promise.all([fs.readFile(join(a, rel)), fs.readFile(join(b, rel))]);
    return x.equals(y);
  } catch {
    return false;
  }
}

/** Every directory of the tree, side by side: fsyncs that overlap share a journal commit (ext4, xfs). */
async function syncTree(dir: string): Promise<void> {
  const dirs = (await walkTree(dir)).filter((e) => e.kind === 'dir').map((e) => join(dir, e.rel));
  await Promise.all([...dirs, dir].map(fsyncDir));
}

export async function listProfiles(rootDir: string): Promise<string[]> {
  try {
    const names = await fs.readdir(join(rootDir, 'profiles'));
    return names.filter((n) => !n.endsWith('.d') && !n.startsWith('.')).sort();
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return [];
    throw e;
  }
}

/** Remove half-made generations and temporary profile links left by killed processes (not by live ones). */
export async function cleanProfileLeftovers(rootDir: string): Promise<string[]> {
  const dir = join(rootDir, 'profiles');
  const removed: string[] = [];
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return [];
    throw e;
  }
  const busy = async (profile: string) => isLockHeld(join(dir, `${profile}.d`, '.lock'));
  for (const name of names) {
    const tmpLink = /^\.tmp-(.+)-[0-9a-f]{12}$/.exec(name);
    if (tmpLink?.[1] !== undefined && !(await busy(tmpLink[1]))) {
      await fs.rm(join(dir, name), { force: true });
      removed.push(`profiles/${name}`);
    }
    if (!name.endsWith('.d') || (await busy(name.slice(0, -2)))) continue;
    for (const entry of await fs.readdir(join(dir, name))) {
      if (!entry.startsWith('.tmp-')) continue;
      await removeTree(join(dir, name, entry));
      removed.push(`profiles/${name}/${entry}`);
    }
  }
  return removed;
}
