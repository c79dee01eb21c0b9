import { createHash, type Hash } from 'node:crypto';
import { AppError, isAppError, type Code, type Sha256 } from '../core/index.js';
import { extractArchive, type ExtractedFile } from './untar.js';
import { openInput, type ArchiveInput } from './input.js';

/** A package archive to extract into `target` (which must not exist), checking its sha256 on the way. */
export interface ExtractRequest {
  readonly input: ArchiveInput;
  readonly target: string;
  /** The archive's name in messages (its URL). */
  readonly what: string;
  readonly want: Sha256;
  /** Leave the tree without write bits, as the store keeps it (nothing is to be rewritten in it). */
  readonly readOnly?: boolean;
}

export type Extractor = (req: ExtractRequest, onBytes?: (n: number) => void) => Promise<ExtractedFile[]>;

/**
 * Extract, checking the archive's sha256 only where it tells something the files' own hashes do not.
 *
 * Every file an archive holds is checked against the signed manifest's hashes (stagePackage), which vouch for
 * the tree, so an archive that extracts cleanly is not hashed as well: that cost 5-7% of an install's CPU from
 * a local cache, and 8% over HTTP (0.13 s of 2.1 s for the bench closure). When extraction fails on the
 * archive's content, the archive is hashed whole (a download is fetched again for it), so that a damaged file
 * is reported with the URL and both hashes rather than as whatever its broken bytes looked like. A download that
 * stays short fails in input.ts (E_CACHE_DOWNLOAD with both sizes, or E_CACHE_UNREACHABLE with the cause);
 * a local error (the disk is full) is not a reason to read the archive again.
 */
/** Errors about what the archive holds: the ones a damaged or altered file causes. */
const ARCHIVE_CONTENT: ReadonlySet<Code> = new Set([
  'E_ARCHIVE_CORRUPT',
  'E_ARCHIVE_UNSAFE',
  'E_ARCHIVE_LIMIT',
]);

export const extractHashed: Extractor = async ({ input, target, what, want, readOnly }, onBytes) => {
  const source = openInput(input)[Symbol.asyncIterator]();
  let sourceFailed = false;
  async function* pulled(): AsyncGenerator<Buffer> {
    for (;;) {
      const r = await source.next().catch((e: unknown) => {
        sourceFailed = true;
        throw e;
      });
      if (r.done === true) return;
      onBytes?.(r.value.length);
      yield r.value;
    }
  }
  try {
    // The files' hashes are checked against the signed manifest (stagePackage): gzip's CRC adds nothing.
    return await extractArchive(pulled(), target, {
      label: what,
      readOnly: readOnly === true,
      gzipCrc: false,
    });
  } catch (e) {
    await source.return?.();
    if (!sourceFailed && isAppError(e) && ARCHIVE_CONTENT.has(e.code)) await hashWhole(input, want, what, e);
    throw e;
  } finally {
    await source.return?.();
  }
};

/**
 * Throws E_PKG_HASH (with `cause`) when the archive's sha256 is not `want`. An archive that cannot be read
 * again (the cache went away) leaves the extraction's own error to stand.
 */
async function hashWhole(input: ArchiveInput, want: Sha256, what: string, cause: unknown): Promise<void> {
  const hash = createHash('sha256');
  try {
    for await (const piece of openInput(input)) hash.update(piece);
  } catch {
    return;
  }
  checkDigest(hash, want, what, cause);
}

function checkDigest(hash: Hash, want: Sha256, what: string, cause?: unknown): void {
  const actual = hash.digest('hex');
  if (actual !== want)
    throw new AppError(
      'E_PKG_HASH',
      `${what}: the archive's sha256 is ${actual}, the signed manifest says ${want}`,
      { hint: 'the archive was altered or damaged: download it again', cause },
    );
}

/** One extraction for a worker thread, and its answer (structured-cloned across threads). */
export interface ExtractJob extends ExtractRequest {
  readonly id: number;
  /** Whether to send `bytes` replies as the archive is read (for a download's progress). */
  readonly progress: boolean;
}

/** Progress (bytes read since the last one), then one answer: the files, or the error. */
export type ExtractReply =
  | { readonly id: number; readonly bytes: number }
  | { readonly id: number; readonly files: ExtractedFile[] }
  | { readonly id: number; readonly error: SerializedError };

export interface SerializedError {
  readonly code?: Code;
  readonly message: string;
  readonly hint?: string;
  readonly details?: Readonly<Record<string, unknown>>;
  readonly stack?: string;
  /** A system error's errno code, call and path (ENOSPC, write, …), so the main thread can say what to do. */
  readonly system?: {
    readonly code: string;
    readonly syscall: string | undefined;
    readonly path: string | undefined;
  };
}

export function serializeError(e: unknown): SerializedError {
  if (isAppError(e))
    return {
      code: e.code,
      message: e.message,
      details: e.details,
      ...(e.hint === undefined ? {} : { hint: e.hint }),
    };
  if (!(e instanceof Error)) return { message: String(e) };
  const { code, syscall, path } = e as NodeJS.ErrnoException;
  return {
    message: e.message,
    ...(e.stack === undefined ? {} : { stack: e.stack }),
    ...(typeof code === 'string' ? { system: { code, syscall, path } } : {}),
  };
}

/** The error as the worker threw it: an AppError keeps its code, hint and details. */
export function deserializeError(e: SerializedError): Error {
  if (e.code !== undefined)
    return new AppError(e.code, e.message, {
      ...(e.hint === undefined ? {} : { hint: e.hint }),
      ...(e.details === undefined ? {} : { details: e.details }),
    });
  const err: NodeJS.ErrnoException = new Error(e.message);
  if (e.stack !== undefined) err.stack = e.stack;
  if (e.system !== undefined) Object.assign(err, e.system);
  return err;
}
