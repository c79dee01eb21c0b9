import type { Code } from './codes.js';

export interface AppErrorOptions {
  readonly hint?: string;
  readonly cause?: unknown;
  /** Extra data for `--json` consumers (paths, hashes, host names). */
  readonly details?: Readonly<Record<string, unknown>>;
}

/** A failure the user can reach and act on. Bugs are asserts, not AppErrors. */
export class AppError extends Error {
  readonly code: Code;
  readonly hint: string | undefined;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: Code, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.hint = options.hint;
    this.details = options.details ?? {};
  }
}

export function isAppError(e: unknown): e is AppError {
  return e instanceof AppError;
}

/** True when `e` is a Node system error with the given errno code (ENOENT, EEXIST…). */
export function isErrno(e: unknown, code: string): boolean {
  return e instanceof Error && 'code' in e && (e as NodeJS.ErrnoException).code === code;
}

/** An error of a system call (ENOSPC, EACCES…), as Node makes them: an errno code and the call's name. */
export function isSystemError(e: unknown): e is NodeJS.ErrnoException {
  if (!(e instanceof Error)) return false;
  const { code, syscall } = e as NodeJS.ErrnoException;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) && typeof syscall === 'string';
}

/** The message of anything thrown. */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** What to do about the operating system's refusals that a user can act on. */
const SYSTEM_HINTS: Readonly<Record<string, string>> = {
  ENOSPC: 'the file system is full: free space on it, or use a --root (or TMPDIR) on another one',
  EDQUOT: 'your disk quota is used up: free space, or use a --root on another file system',
  EACCES: 'check the owner and permissions of that path, or use a --root of your own',
  EPERM: 'check the owner and permissions of that path, or use a --root of your own',
  EROFS: 'that file system is mounted read-only: use a --root on a writable one',
  EMFILE: 'too many open files: raise the limit (ulimit -n) and try again',
  ENFILE: 'the system ran out of file descriptors: try again when it has fewer open files',
  EIO: 'the disk reported an I/O error: check it (dmesg) before trying again',
  ENOTDIR: 'a part of that path is a file, not a directory: check --root and the paths given',
};

/**
 * A Node system error (disk full, permission denied…) as an AppError that says which path and what to do; other
 * errors (bugs) are returned as they are, for their stack. The path goes into the message when Node left it out
 * (writes and fsyncs through a file handle name none).
 */
export function fromSystemError(e: unknown): unknown {
  if (!isSystemError(e) || isAppError(e)) return e;
  const { code = '', syscall, path } = e;
  const where = path !== undefined && !e.message.includes(path) ? ` (${path})` : '';
  return new AppError('E_SYSTEM', `${e.message}${where}`, {
    cause: e,
    ...(SYSTEM_HINTS[code] === undefined ? {} : { hint: SYSTEM_HINTS[code] }),
    details: { errno: code, syscall, ...(path === undefined ? {} : { path }) },
  });
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`Assertion failed: ${message}`);
}
