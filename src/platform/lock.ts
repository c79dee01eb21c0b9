import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError, isErrno } from '../core/index.js';

/** Who holds a lock: the pid and the process's start time, so a reused pid is not mistaken for the owner. */
interface Owner {
  readonly pid: number;
  readonly start: string;
}

/**
 * An exclusive lock between ferry processes: a directory that appears, owner file included, by one rename
 * (atomic on every local filesystem, and it fails when the directory exists). A lock whose owner died
 * (kill -9) is taken over, so a crash never wedges the store.
 */
export class FileLock {
  readonly path: string;
  private constructor(path: string) {
    this.path = path;
  }

  static async acquire(path: string, options: { timeoutMs?: number; onWait?: (pid: number) => void } = {}) {
    const deadline = Date.now() + (options.timeoutMs ?? 10 * 60_000);
    let warned = false;
    for (;;) {
      if (await tryCreate(path)) return new FileLock(path);
      const owner = await readOwner(path);
      if (owner === undefined || !isAlive(owner)) {
        await breakStale(path, owner);
        continue;
      }
      if (!warned) options.onWait?.(owner.pid);
      warned = true;
      if (Date.now() > deadline)
        throw new AppError('E_STORE_LOCKED', `${path} is held by process ${owner.pid}`, {
          hint: `wait for process ${owner.pid} to finish, or stop it`,
        });
      await sleep(50);
    }
  }

  /**
   * Rename away first, then delete: removing in place empties the directory before removing it, and another
   * process's rename onto that empty directory succeeds, so the rmdir would fail on its fresh lock (ENOTEMPTY).
   */
  async release(): Promise<void> {
    const grave = `${this.path}.released-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      await fs.rename(this.path, grave);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return;
      throw e;
    }
    await fs.rm(grave, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }
}

/** True when a live process holds the lock at `path` (for cleaning what only dead processes left). */
export async function isLockHeld(path: string): Promise<boolean> {
  const owner = await readOwner(path);
  return owner !== undefined && isAlive(owner);
}

async function tryCreate(path: string): Promise<boolean> {
  const tmp = `${path}.new-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await fs.mkdir(tmp);
    await fs.writeFile(`${tmp}/owner`, `${process.pid} ${startTime(process.pid) ?? ''}\n`);
    await fs.rename(tmp, path);
    return true;
  } catch (e) {
    await fs.rm(tmp, { recursive: true, force: true });
    // ENOENT: a cleaner removed our half-made directory; just try again.
    if (isErrno(e, 'ENOTEMPTY') || isErrno(e, 'EEXIST') || isErrno(e, 'ENOENT')) return false;
    throw e;
  }
}

async function readOwner(path: string): Promise<Owner | undefined> {
  try {
    const [pid = '', start = ''] = (await fs.readFile(`${path}/owner`, 'utf8')).trim().split(' ');
    const n = Number.parseInt(pid, 10);
    return Number.isFinite(n) ? { pid: n, start } : undefined;
  } catch (e) {
    if (isErrno(e, 'ENOENT') || isErrno(e, 'ENOTDIR')) return undefined;
    throw e;
  }
}

/** Rename first so two processes breaking the same stale lock cannot delete each other's fresh lock. */
async function breakStale(path: string, seen: Owner | undefined): Promise<void> {
  const grave = `${path}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  const now = await readOwner(path);
  if (now?.pid !== seen?.pid || now?.start !== seen?.start) return;
  try {
    await fs.rename(path, grave);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return;
    throw e;
  }
  await fs.rm(grave, { recursive: true, force: true });
}

function isAlive(owner: Owner): boolean {
  if (owner.pid === process.pid) return true;
  try {
    process.kill(owner.pid, 0);
  } catch (e) {
    if (!isErrno(e, 'EPERM')) return false;
  }
  const stat = procStat(owner.pid);
  if (stat === undefined) return true;
  // A zombie still answers kill(0); its state letter says it is gone. A different start time: a reused pid.
  if (stat.state === 'Z') return false;
  return owner.start === '' || owner.start === stat.start;
}

function startTime(pid: number): string | undefined {
  return procStat(pid)?.start;
}

function procStat(pid: number): { state: string; start: string } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', start: fields[19] ?? '' };
  } catch {
    return undefined;
  }
}
