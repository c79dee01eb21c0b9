import { lstatSync, readdirSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { isErrno } from '../core/index.js';

/**
 * What a path looked like, as one string: kind, device, inode, size, and modification and change times (ms, to
 * a fraction of a microsecond); "-" when it did not exist. Any write to a file changes its ctime, which no user
 * can set back (unlike mtime), and adding or removing a directory entry changes the directory's; so an equal
 * signature means equal content, except for a write within the clock's granularity of the look (see
 * `Witness.racy`).
 */
export type Signature = string;

function describe(st: Stats): Signature {
  const kind = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFile() ? 'f' : 'o';
  return `${kind}:${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

/** The signature of a path (its target, with `follow`). */
export function signature(path: string, follow = false): Signature {
  try {
    const st = follow
      ? statSync(path, { throwIfNoEntry: false })
      : lstatSync(path, { throwIfNoEntry: false });
    return st === undefined ? '-' : describe(st);
  } catch (e) {
    if (isErrno(e, 'ENOTDIR')) return '-';
    throw e;
  }
}

/**
 * The paths a computation read, each with its signature taken *before* the read: if the path changes after the
 * look, its signature no longer matches and the computation's result is not reused. Make-style freshness, with
 * ctime and inode so that copying an old file over a new one, or restoring an mtime, is still seen.
 */
export class Witness {
  private readonly seen = new Map<string, Signature>();
  private readonly followed = new Set<string>();

  /** Look at a path before reading it (a directory before listing it). The first look counts. */
  note(path: string, follow = false): void {
    if (this.seen.has(path)) return;
    this.seen.set(path, signature(path, follow));
    if (follow) this.followed.add(path);
  }

  /** Look at a whole tree, as hashing a local source reads it: the top followed, everything below not. */
  noteTree(root: string): void {
    this.note(root, true);
    const visit = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        this.note(path);
        if (this.seen.get(path)?.startsWith('d:') === true) visit(path);
      }
    };
    if (this.seen.get(root)?.startsWith('d:') === true) visit(root);
  }

  /** [path, signature, followed] for each path looked at, in the order of the looks. */
  entries(): WitnessEntry[] {
    return [...this.seen].map(([path, sig]) => [path, sig, this.followed.has(path)]);
  }

  /**
   * Whether some path changed so close to the look that a second write in the same clock tick would leave its
   * signature unchanged (git's "racy" entries): then the result must not be reused on signatures alone. Two
   * seconds cover file systems that keep whole seconds.
   */
  racy(marginMs = 2000): boolean {
    const since = Date.now() - marginMs;
    for (const sig of this.seen.values()) if (sig !== '-' && Number(sig.split(':')[5]) >= since) return true;
    return false;
  }
}

export type WitnessEntry = readonly [path: string, signature: Signature, followed: boolean];

/** Looks again at every path: how many still have their recorded signature, up to the first that changed. */
export function recheck(entries: readonly WitnessEntry[]): { changed?: string; checked: number } {
  let checked = 0;
  for (const [path, sig, follow] of entries) {
    if (signature(path, follow) !== sig) return { changed: path, checked };
    checked++;
  }
  return { checked };
}
