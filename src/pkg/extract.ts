import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform } from 'node:stream';
import { AppError, isAppError, type Code, type Sha256 } from '../core/index.js';
import { extractArchive, type ExtractedFile } from './archive.js';

/** Extracts a package archive into `target` (which must not exist), checking the archive's sha256 on the way. */
export type Extractor = (
  archive: string,
  target: string,
  what: string,
  want: Sha256,
) => Promise<ExtractedFile[]>;

/**
 * Extract, hashing the bytes as the extractor pulls them: one read of the archive, back-pressure kept. A hash
 * other than the signed manifest's fails the install (the caller removes the half-made target).
 */
export const extractHashed: Extractor = async (archive, target, what, want) => {
  const hash = createHash('sha256');
  const tee = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  const input = createReadStream(archive, { highWaterMark: 1 << 20 });
  input.on('error', (e) => tee.destroy(e));
  const got = await extractArchive(input.pipe(tee), target, { label: what }).finally(() => input.destroy());
  const actual = hash.digest('hex');
  if (actual !== want)
    throw new AppError(
      'E_PKG_HASH',
      `${what}: the archive's sha256 is ${actual}, the signed manifest says ${want}`,
      {
        hint: 'the archive was altered or damaged: download it again',
      },
    );
  return got;
};

/** One extraction for a worker thread, and its answer (structured-cloned across threads). */
export interface ExtractJob {
  readonly id: number;
  readonly archive: string;
  readonly target: string;
  readonly what: string;
  readonly want: Sha256;
}

export type ExtractReply =
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
