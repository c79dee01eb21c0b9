import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { AppError, isErrno, type Sha256 } from '../core/index.js';

export interface Expected {
  readonly sha256: Sha256;
  readonly size: number;
}

/**
 * Where binary packages come from: a directory or a static HTTP(S) layout. `read` is for the small files
 * (index, manifests, signatures); `archive` gives a local file holding the archive, verified against `expect`.
 */
export interface CacheSource {
  readonly url: string;
  read(rel: string): Promise<Buffer | undefined>;
  archive(
    rel: string,
    expect: Expected,
    tmpDir: string,
    onBytes?: (n: number) => void,
  ): Promise<LocalArchive>;
}

export interface LocalArchive {
  readonly file: string;
  /** True when the file is a download of ours, to delete after use. */
  readonly temporary: boolean;
}

export function openSource(url: string): CacheSource {
  if (/^https?:\/\//.test(url)) return new HttpCacheSource(url.replace(/\/+$/, ''));
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

/** A cache in a local (or mounted) directory: archives are used in place, their hash checked while extracting. */
export class DirCacheSource implements CacheSource {
  readonly url: string;
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
    this.url = `file://${dir}`;
  }
  async read(rel: string): Promise<Buffer | undefined> {
    try {
      return await fs.readFile(join(this.dir, rel));
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return undefined;
      throw new AppError('E_CACHE_UNREACHABLE', `${this.url}/${rel}: ${(e as Error).message}`, { cause: e });
    }
  }
  async archive(rel: string, expect: Expected): Promise<LocalArchive> {
    const file = join(this.dir, rel);
    const st = await fs.stat(file).catch(() => undefined);
    if (st?.size !== expect.size)
      throw new AppError(
        'E_CACHE_DOWNLOAD',
        `${this.url}/${rel}: ${st === undefined ? 'missing' : `${st.size} bytes`}, expected ${expect.size} bytes (sha256 ${expect.sha256})`,
        { hint: 'the cache is incomplete or damaged: push the package again' },
      );
    return { file, temporary: false };
  }
}

const ATTEMPTS = 4;

/** A static HTTP(S) layout: any web server, object store or CDN. Downloads resume with Range after a failure. */
export class HttpCacheSource implements CacheSource {
  readonly url: string;
  constructor(url: string) {
    this.url = url;
  }

  async read(rel: string): Promise<Buffer | undefined> {
    const url = `${this.url}/${rel}`;
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await fetch(url);
        if (res.status === 404) return undefined;
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        return Buffer.from(await res.arrayBuffer());
      } catch (e) {
        if (attempt >= ATTEMPTS) throw unreachable(url, e);
        await sleep(100 * 2 ** attempt);
      }
    }
  }

  async archive(
    rel: string,
    expect: Expected,
    tmpDir: string,
    onBytes?: (n: number) => void,
  ): Promise<LocalArchive> {
    const url = `${this.url}/${rel}`;
    const file = join(tmpDir, `${rel.replace(/\//g, '_')}.${process.pid}.part`);
    await fs.mkdir(tmpDir, { recursive: true });
    await fs.rm(file, { force: true });
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          await resume(url, file, expect, onBytes);
          return { file, temporary: true };
        } catch (e) {
          if (e instanceof AppError) throw e;
          if (attempt >= ATTEMPTS) throw unreachable(url, e);
          await sleep(100 * 2 ** attempt);
        }
      }
    } catch (e) {
      await fs.rm(file, { force: true });
      throw e;
    }
  }
}

/**
 * Fetch what `file` still lacks of `url` (a Range request after an interrupted attempt) and check the whole
 * file's size and hash. Network failures throw plain errors (retried); a wrong file throws E_CACHE_DOWNLOAD.
 */
async function resume(
  url: string,
  file: string,
  expect: Expected,
  onBytes?: (n: number) => void,
): Promise<void> {
  const hash = createHash('sha256');
  let have = 0;
  try {
    for await (const chunk of createReadStream(file)) {
      hash.update(chunk as Buffer);
      have += (chunk as Buffer).length;
    }
  } catch (e) {
    if (!isErrno(e, 'ENOENT')) throw e;
  }
  const res = await fetch(url, have > 0 ? { headers: { range: `bytes=${have}-` } } : {});
  if (res.status === 404)
    throw new AppError('E_CACHE_MISSING', `${url}: not found (HTTP 404)`, {
      hint: 'push the package to the cache again',
    });
  if (!res.ok || res.body === null) throw new Error(`HTTP ${res.status}`);
  if (have > 0 && res.status !== 206) {
    await fs.truncate(file, 0); // the server ignores Range: start over
    throw new Error('the server ignored a range request');
  }
  const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
  body.on('data', (chunk: Buffer) => {
    have += chunk.length;
    hash.update(chunk);
    onBytes?.(chunk.length);
    if (have > expect.size) body.destroy(tooLong(url, expect));
  });
  await pipeline(body, createWriteStream(file, { flags: 'a' }));
  const actual = hash.digest('hex');
  if (have !== expect.size || actual !== expect.sha256) throw mismatch(url, have, actual, expect);
}

function tooLong(url: string, expect: Expected): AppError {
  return new AppError('E_CACHE_DOWNLOAD', `${url}: longer than the ${expect.size} bytes expected`, {
    hint: 'the file on the cache is not the one its index names: push the package again',
  });
}

function mismatch(url: string, have: number, actual: string, expect: Expected): AppError {
  return new AppError(
    'E_CACHE_DOWNLOAD',
    `${url}: got ${have} bytes with sha256 ${actual}; expected ${expect.size} bytes with sha256 ${expect.sha256}`,
    { hint: 'retry; if it persists the file on the cache is damaged: push the package again' },
  );
}

function unreachable(url: string, e: unknown): AppError {
  const why = e instanceof Error ? ((e.cause as Error | undefined)?.message ?? e.message) : String(e);
  return new AppError('E_CACHE_UNREACHABLE', `${url}: ${why}`, {
    hint: 'check the URL and that the cache server runs',
    cause: e,
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function fileSha256(file: string): Promise<Sha256> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex') as Sha256;
}
