import { readFileSync, readlinkSync, symlinkSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import * as fs from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError, isErrno } from '../core/index.js';

/**
 * Who holds a lock: the pid and the process's start time, so a reused pid is not mistaken for the owner, and
 * the host, so a lock on a shared file system (a cache directory over NFS) is not broken by another machine,
 * where that pid means nothing. Empty in locks of older ferry versions.
 */
interface Owner {
  readonly pid: number;
  readonly start: string;
  readonly host: string;
}

/**
 * An exclusive lock between ferry processes: a symbolic link whose target names the owner ("PID START"), made by
 * symlink(2), which fails when the name exists. A short target lives in the inode, so taking and dropping a lock
 * allocates and frees no data block: on file systems mounted with online discard a freed block costs a
 * synchronous trim (milliseconds each, seen here at 5 to 10 ms). A lock whose owner died (kill -9) is taken
 * over, so a crash never wedges the store. Locks an older ferry left as directories with an `owner` file are
 * still read and taken over.
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
      if (tryCreate(path)) return new FileLock(path);
      const owner = await readOwner(path);
      if (owner === undefined || !isAlive(owner)) {
        await breakStale(path, owner);
        continue;
      }
      if (!warned) options.onWait?.(owner.pid);
      warned = true;
      if (Date.now() > deadline) throw locked(path, owner);
      await sleep(50);
    }
  }

  /** One unlink: nobody else removes a live process's lock, and a link, unlike a directory, goes at once. */
  release(): Promise<void> {
    try {
      unlinkSync(this.path);
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
    return Promise.resolve();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }
}

function locked(path: string, owner: Owner): AppError {
  if (isForeign(owner))
    return new AppError('E_STORE_LOCKED', `${path} is held by process ${owner.pid} on host ${owner.host}`, {
      hint: `wait for it to finish there; if that process is gone (the host crashed), remove ${path}`,
    });
  return new AppError('E_STORE_LOCKED', `${path} is held by process ${owner.pid}`, {
    hint: `wait for process ${owner.pid} to finish, or stop it`,
  });
}

/** True when a live process holds the lock at `path` (for cleaning what only dead processes left). */
export async function isLockHeld(path: string): Promise<boolean> {
  const owner = await readOwner(path);
  return owner !== undefined && isAlive(owner);
}

// Taking and releasing a lock are a few small calls on every command; made synchronously, they skip a round
// trip through the thread pool each (several milliseconds at a cold start).
function tryCreate(path: string): boolean {
  try {
    symlinkSync(`${process.pid} ${ownStart()} ${thisHost()}`, path);
    return true;
  } catch (e) {
    if (isErrno(e, 'EEXIST')) return false;
    throw e;
  }
}

async function readOwner(path: string): Promise<Owner | undefined> {
  try {
    const [pid = '', start = '', host = ''] = (await ownerText(path)).trim().split(' ');
    const n = Number.parseInt(pid, 10);
    return Number.isFinite(n) ? { pid: n, start, host } : undefined;
  } catch (e) {
    if (isErrno(e, 'ENOENT') || isErrno(e, 'ENOTDIR')) return undefined;
    throw e;
  }
}

/** The link's target; a directory lock of an older ferry keeps it in its `owner` file. */
async function ownerText(path: string): Promise<string> {
  try {
    return readlinkSync(path);
  } catch (e) {
    if (isErrno(e, 'EINVAL')) return fs.readFile(`${path}/owner`, 'utf8');
    throw e;
  }
}

/** Rename first so two processes breaking the same stale lock cannot delete each other's fresh lock. */
async function breakStale(path: string, seen: Owner | undefined): Promise<void> {
  const grave = `${path}.stale-${process.pid}-${unique()}`;
  const now = await readOwner(path);
  if (now?.pid !== seen?.pid || now?.start !== seen?.start || now?.host !== seen?.host) return;
  try {
    await fs.rename(path, grave);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return;
    throw e;
  }
  await fs.rm(grave, { recursive: true, force: true });
}

/** A lock taken on another machine: whether its process lives cannot be told from here. */
function isForeign(owner: Owner): boolean {
  return owner.host !== '' && owner.host !== thisHost();
}

function isAlive(owner: Owner): boolean {
  if (isForeign(owner)) return true;
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

let hostName: string | undefined;

/** Read once: a lock is taken per package. */
function thisHost(): string {
  hostName ??= hostname();
  return hostName;
}

let ownStartTime: string | undefined;

/** This process's start time, read once: an install takes a lock per package, and each read cost ~0.3 ms. */
function ownStart(): string {
  ownStartTime ??= procStat(process.pid)?.start ?? '';
  return ownStartTime;
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

// Names for a stale lock moved aside: the pid is in the name, so unique within the process is enough, and no
// cryptographic source is loaded for them (node:crypto costs milliseconds at a cold start).
let counter = 0;
function unique(): string {
  return `${Date.now().toString(36)}${(counter++).toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}
