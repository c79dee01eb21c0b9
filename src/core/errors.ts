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

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`Assertion failed: ${message}`);
}
