import { readFileSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppError, isAppError, isErrno, type Sha256 } from '../core/index.js';
import {
  HTTP_ATTEMPTS,
  STALL_MS,
  httpGetBytes,
  isCertError,
  overLimit,
  unreachable,
  type ArchiveInput,
} from '../pkg/index.js';

export interface Expected {
  readonly sha256: Sha256;
  readonly size: number;
}

/**
 * Where binary packages come from: a directory or a static HTTP(S) layout. `read` is for the small files
 * (index, manifests, signatures); `input` says where an archive's bytes are, for the extractor to read them
 * (and check them against `expect`) as it goes.
 */
export interface CacheSource {
  readonly url: string;
  read(rel: string): Promise<Buffer | undefined>;
  input(rel: string, expect: Expected): Promise<ArchiveInput>;
}

/**
 * The most bytes an index, a manifest or a signature may have: read whole before its signature is checked, so
 * a hostile or broken server must not be able to send endless data (The Update Framework's "endless data"
 * attack; archives are bounded by their signed size). An index of every Debian package would be ~16 MB.
 */
export const SMALL_FILE_MAX = 64 * 1024 * 1024;

export function openSource(url: string, stallMs = STALL_MS): CacheSource {
  if (/^https?:\/\//.test(url)) return new HttpCacheSource(url.replace(/\/+$/, ''), stallMs);
  const dir = url.startsWith('file://') ? fileURLToPath(url) : url;
  if (!dir.startsWith('/'))
    throw new AppError(
      'E_USAGE',
      `cache "${url}" is neither an absolute directory nor a file:// or http(s):// URL`,
      {
        hint: 'e.g. /srv/ferry-cache, file:///srv/ferry-cache or http://build1:8080',
      },
    );
  return new DirCacheSource(dir);
}

/**
 * A cache in a local (or mounted) directory: archives are used in place, their hash checked while extracting.
 * The small files are read with synchronous calls: an install reads two per package at once, and through the
 * thread pool each read was four trips (open, stat, read, close) queued behind all the others, so the first
 * archive waited for every manifest before its own stat got a turn: 45–55 ms from the first manifest asked for
 * to the first archive handed to a worker, against 10–15 ms now.
 */
export class DirCacheSource implements CacheSource {
  readonly url: string;
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
    this.url = `file://${dir}`;
  }
  // eslint-disable-next-line @typescript-eslint/require-await -- async, so that a failure is a rejection
  async read(rel: string): Promise<Buffer | undefined> {
    const file = join(this.dir, rel);
    try {
      if (statSync(file).size > SMALL_FILE_MAX) throw overLimit(`${this.url}/${rel}`, SMALL_FILE_MAX);
      return readFileSync(file);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return undefined;
      if (isAppError(e)) throw e;
      throw new AppError('E_CACHE_UNREACHABLE', `${this.url}/${rel}: ${(e as Error).message}`, { cause: e });
    }
  }
  // eslint-disable-next-line @typescript-eslint/require-await -- async, so that a failure is a rejection
  async input(rel: string, expect: Expected): Promise<ArchiveInput> {
    const file = join(this.dir, rel);
    const st = statIfAny(file);
    if (st?.size !== expect.size)
      throw new AppError(
        'E_CACHE_DOWNLOAD',
        `${this.url}/${rel}: ${st === undefined ? 'missing' : `${st.size} bytes`}, expected ${expect.size} bytes (sha256 ${expect.sha256})`,
        { hint: 'the cache is incomplete or damaged: push the package again' },
      );
    return { kind: 'file', path: file };
  }
}

function statIfAny(file: string): Stats | undefined {
  try {
    return statSync(file);
  } catch {
    return undefined;
  }
}

/** A static HTTP(S) layout: any web server, object store or CDN. */
export class HttpCacheSource implements CacheSource {
  readonly url: string;
  readonly stallMs: number;
  constructor(url: string, stallMs = STALL_MS) {
    this.url = url;
    this.stallMs = stallMs;
  }

  async read(rel: string): Promise<Buffer | undefined> {
    const url = `${this.url}/${rel}`;
    for (let attempt = 1; ; attempt++) {
      try {
        return await httpGetBytes(url, this.stallMs, SMALL_FILE_MAX);
      } catch (e) {
        if (isAppError(e)) throw e;
        if (attempt >= HTTP_ATTEMPTS || isCertError(e)) throw unreachable(url, e);
        await sleep(100 * 2 ** attempt);
      }
    }
  }

  /** Archives are streamed into the extractor, resuming with Range after a dropped connection (input.ts). */
  input(rel: string, expect: Expected): Promise<ArchiveInput> {
    return Promise.resolve({ kind: 'http', url: `${this.url}/${rel}`, ...expect, stallMs: this.stallMs });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
