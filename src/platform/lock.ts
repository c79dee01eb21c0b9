import { readFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError, isErrno } from '../core/index.js';

/**
 * An exclusive lock between ferry processes: a directory created with mkdir (atomic on every local
 * filesystem) holding the owner's pid. A lock whose owner died (kill -9) is taken over, so a crash never
 * wedges the store.
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
      try {
        await fs.mkdir(path);
        await fs.writeFile(`${path}/pid`, String(process.pid));
        return new FileLock(path);
      } catch (e) {
        if (!isErrno(e, 'EEXIST')) throw e;
      }
      const owner = await readOwner(path);
      if (owner === undefined || !isAlive(owner)) {
        await breakStale(path);
        continue;
      }
      if (!warned) options.onWait?.(owner);
      warned = true;
      if (Date.now() > deadline)
        throw new AppError('E_STORE_LOCKED', `${path} is held by process ${owner}`, {
          hint: `wait for process ${owner} to finish, or stop it`,
        });
      await sleep(50);
    }
  }

  async release(): Promise<void> {
    await fs.rm(this.path, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }
}

async function readOwner(path: string): Promise<number | undefined> {
  try {
    const n = Number.parseInt(await fs.readFile(`${path}/pid`, 'utf8'), 10);
    return Number.isFinite(n) ? n : undefined;
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return undefined;
    throw e;
  }
}

/** A lock directory without a pid file is either being created right now or left by a crash. */
async function breakStale(path: string): Promise<void> {
  try {
    const st = await fs.stat(path);
    const hasPid = (await fs.readdir(path)).includes('pid');
    if (!hasPid && Date.now() - st.mtimeMs < 2000) {
      await sleep(20);
      return;
    }
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return;
    throw e;
  }
  // Rename first so two processes breaking the same stale lock cannot delete each other's fresh lock.
  const grave = `${path}.stale-${process.pid}-${Date.now()}`;
  try {
    await fs.rename(path, grave);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return;
    throw e;
  }
  await fs.rm(grave, { recursive: true, force: true });
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
  } catch (e) {
    return isErrno(e, 'EPERM');
  }
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  try {
    // A zombie still answers kill(0); its state letter in procfs says it is gone.
    const stat = readProcStat(pid);
    return stat?.split(') ')[1]?.startsWith('Z') ?? false;
  } catch {
    return false;
  }
}

function readProcStat(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
}
