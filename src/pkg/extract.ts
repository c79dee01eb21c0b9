import { createHash, type Hash } from 'node:crypto';
import { AppError, isAppError, type Code, type Sha256 } from '../core/index.js';
import { removeTree } from '../platform/index.js';
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
 * Extract, checking the archive's sha256 where it tells something the files' own hashes do not.
 *
 * A download is hashed as the extractor pulls it: one pass, back-pressure kept, and a damaged download is
 * reported as such, naming the URL and both hashes. A local file is not hashed when it extracts: every file it
 * holds is then checked against the signed manifest's hashes (stagePackage), which vouch for the tree, and
 * hashing the archive as well cost 5-7% of an install's CPU. When extraction fails on the archive's content
 * (either kind), the archive is hashed whole, so that a damaged file is reported with both hashes rather than
 * as whatever its broken bytes looked like; a hash other than the signed one fails the install.
 */
export const extractHashed: Extractor = async ({ input, target, what, want, readOnly }, onBytes) => {
  const hash = input.kind === 'http' ? createHash('sha256') : undefined;
  const source = openInput(input)[Symbol.asyncIterator]();
  let sourceFailed = false;
  async function* pulled(): AsyncGenerator<Buffer> {
    for (;;) {
      const r = await source.next().catch((e: unknown) => {
        sourceFailed = true;
        throw e;
      });
      if (r.done === true) return;
      hash?.update(r.value);
      onBytes?.(r.value.length);
      yield r.value;
    }
  }
  try {
    // Every file's sha256 is checked against the signed manifest (stagePackage): gzip's CRC adds nothing.
    const files = await extractArchive(pulled(), target, {
      label: what,
      readOnly: readOnly === true,
      gzipCrc: false,
    });
    if (hash !== undefined) {
      try {
        checkDigest(hash, want, what);
      } catch (e) {
        await removeTree(target);
        throw e;
      }
    }
    return files;
  } catch (e) {
    if (!sourceFailed && !(isAppError(e) && e.code === 'E_PKG_HASH')) {
      if (hash === undefined) await hashWhole(input, want, what, e);
      else {
        await drain(source, hash);
        checkDigest(hash, want, what, e);
      }
    }
    throw e;
  } finally {
    await source.return?.();
  }
};

/** Throws E_PKG_HASH (with `cause`) when the local archive's sha256 is not `want`. */
async function hashWhole(input: ArchiveInput, want: Sha256, what: string, cause: unknown): Promise<void> {
  const hash = createHash('sha256');
  const source = openInput(input)[Symbol.asyncIterator]();
  await drain(source, hash);
  checkDigest(hash, want, what, cause);
}

async function drain(source: AsyncIterator<Buffer>, hash: Hash): Promise<void> {
  for (let r = await source.next(); r.done !== true; r = await source.next()) hash.update(r.value);
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
}

export function serializeError(e: unknown): SerializedError {
  if (isAppError(e))
    return {
      code: e.code,
      message: e.message,
      details: e.details,
      ...(e.hint === undefined ? {} : { hint: e.hint }),
    };
  return e instanceof Error
    ? { message: e.message, ...(e.stack === undefined ? {} : { stack: e.stack }) }
    : { message: String(e) };
}

/** The error as the worker threw it: an AppError keeps its code, hint and details. */
export function deserializeError(e: SerializedError): Error {
  if (e.code !== undefined)
    return new AppError(e.code, e.message, {
      ...(e.hint === undefined ? {} : { hint: e.hint }),
      ...(e.details === undefined ? {} : { details: e.details }),
    });
  const err = new Error(e.message);
  if (e.stack !== undefined) err.stack = e.stack;
  return err;
}
