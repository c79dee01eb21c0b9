/**
 * Where a package archive's bytes come from: a local file, or an HTTP(S) URL read as it is extracted. Plain
 * data, so an extraction worker thread can open it itself. A download is not written to a temporary file and
 * read back: its bytes go straight into the extractor, and a package is registered only when every file it
 * holds has the signed manifest's sha256 (extract.ts says when the archive's own hash is checked).
 */
import { get as httpGetPlain, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { AppError, type Sha256 } from '../core/index.js';
import { readPieces } from '../platform/index.js';
import { fastGet } from './fast-get.js';

export type ArchiveInput =
  | { readonly kind: 'file'; readonly path: string }
  | {
      readonly kind: 'http';
      readonly url: string;
      readonly size: number;
      readonly sha256: Sha256;
      /** How long a silent server is waited for (STALL_MS when absent). */
      readonly stallMs?: number;
    };

const READ_CHUNK = 1 << 20;
/** Tries of one download, each resuming where the last stopped. */
export const HTTP_ATTEMPTS = 4;

/**
 * The archive's bytes in order, each exactly once. A file's pieces share one buffer (readPieces): each is to be
 * used before the next is asked for.
 */
export function openInput(input: ArchiveInput): AsyncIterable<Buffer> {
  if (input.kind === 'file') return asAsync(readPieces(input.path, READ_CHUNK));
  return download(input.url, input.size, input.sha256, input.stallMs ?? STALL_MS);
}

/**
 * A server that sends nothing for this long, before answering or mid-body, is given up on and asked again (up
 * to HTTP_ATTEMPTS times): apt's default. Without it a hung server would hang the install with it.
 */
export const STALL_MS = 30_000;

/** Plain HTTP through fastGet as far as it goes; the rest (or all, for HTTPS) through Node's HTTP client. */
async function* download(url: string, size: number, sha256: Sha256, stallMs: number): AsyncGenerator<Buffer> {
  const progress = { have: 0 };
  yield* fastGet(url, size, progress, stallMs);
  if (progress.have < size)
    yield* coalesce(rangedGet(url, size, sha256, { from: progress.have, stallMs }), READ_CHUNK);
}

function asAsync(pieces: Iterator<Buffer, void>): AsyncIterable<Buffer> {
  const done = { done: true, value: undefined } as const;
  return {
    [Symbol.asyncIterator]: () => ({
      next: () => Promise.resolve(pieces.next()),
      return: () => Promise.resolve(pieces.return?.() ?? done),
    }),
  };
}

/**
 * Pieces of at least `min` bytes (but the last): sockets give 64 KiB at a time, and every piece handed on costs
 * a trip through the decompressor's thread pool; a file is read 1 MiB at a time for the same reason.
 */
export async function* coalesce(src: AsyncIterable<Buffer>, min: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let length = 0;
  for await (const b of src) {
    parts.push(b);
    length += b.length;
    if (length < min) continue;
    yield parts.length === 1 ? b : Buffer.concat(parts, length);
    parts = [];
    length = 0;
  }
  if (length > 0) yield Buffer.concat(parts, length);
}

/**
 * A GET that survives dropped connections: after a failure it asks for the rest with a Range request (a server
 * that ignores Range sends the whole file again, and what was passed on already is skipped). It starts at byte
 * `from` when an earlier reader (fastGet) passed on that much. It never yields
 * more than `size` bytes, and a file that stays short after every attempt is an E_CACHE_DOWNLOAD naming the URL.
 */
export async function* rangedGet(
  url: string,
  size: number,
  sha256: Sha256,
  { from = 0, stallMs = STALL_MS }: { from?: number; stallMs?: number } = {},
): AsyncGenerator<Buffer> {
  let have = from;
  let failures = 0;
  const retry = async (why: unknown) => {
    if (++failures >= HTTP_ATTEMPTS || isCertError(why)) throw unreachable(url, why);
    await new Promise((r) => setTimeout(r, 100 * 2 ** failures));
  };
  while (have < size) {
    let res: IncomingMessage;
    try {
      res = await httpGet(url, have > 0 ? { range: `bytes=${have}-` } : {}, stallMs);
    } catch (e) {
      await retry(e);
      continue;
    }
    const status = res.statusCode ?? 0;
    if (status === 404 || status < 200 || status > 299) {
      res.resume();
      if (status === 404)
        throw new AppError('E_CACHE_MISSING', `${url}: not found (HTTP 404)`, {
          hint: 'push the package to the cache again',
        });
      await retry(new Error(`HTTP ${status}`));
      continue;
    }
    if (status === 206 && !res.headers['content-range']?.startsWith(`bytes ${have}-`)) {
      res.resume();
      await retry(
        new Error(`asked for bytes ${have}-, got ${res.headers['content-range'] ?? 'no Content-Range'}`),
      );
      continue;
    }
    let skip = have > 0 && status !== 206 ? have : 0;
    try {
      for await (let chunk of res as AsyncIterable<Buffer>) {
        if (skip > 0) {
          const drop = Math.min(skip, chunk.length);
          skip -= drop;
          chunk = chunk.subarray(drop);
        }
        if (chunk.length === 0) continue;
        if (have + chunk.length > size)
          throw new AppError('E_CACHE_DOWNLOAD', `${url}: longer than the ${size} bytes expected`, {
            hint: 'the file on the cache is not the one its index names: push the package again',
          });
        have += chunk.length;
        yield chunk;
      }
    } catch (e) {
      if (e instanceof AppError) throw e;
      await retry(e);
      continue;
    }
    if (have < size) {
      if (failures + 1 >= HTTP_ATTEMPTS)
        throw new AppError(
          'E_CACHE_DOWNLOAD',
          `${url}: got ${have} bytes; expected ${size} bytes with sha256 ${sha256}`,
          { hint: 'retry; if it persists the file on the cache is damaged: push the package again' },
        );
      await retry(new Error('the response ended early'));
    }
  }
}

/**
 * A GET with node:http(s), answered once the headers are in. Not fetch(): its web streams cost several times the
 * CPU per byte of a plain IncomingMessage, and a cache download is hundreds of megabytes.
 */
export async function httpGet(
  url: string,
  headers: Record<string, string> = {},
  stallMs = STALL_MS,
): Promise<IncomingMessage> {
  let at = url;
  for (let hops = 0; ; hops++) {
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const get = at.startsWith('https:') ? httpsGet : httpGetPlain;
      let answer: IncomingMessage | undefined;
      // The socket's idle timer runs before the answer and while the body comes in; the body's reader is
      // told why it stopped.
      const req = get(at, { headers, timeout: stallMs }, (r) => {
        resolve((answer = r));
      }).on('error', reject);
      req.on('timeout', () => {
        const why = stalled(stallMs);
        answer?.destroy(why);
        req.destroy(why);
      });
    });
    // Object stores and CDNs answer with redirects; they are followed, a few at most, and only to http(s).
    const location = res.headers.location;
    if (!REDIRECTS.has(res.statusCode ?? 0) || location === undefined || hops >= MAX_REDIRECTS) return res;
    res.resume();
    at = new URL(location, at).href;
    if (!/^https?:/.test(at)) throw new Error(`${url} redirects to ${at}, which is not http(s)`);
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;

/**
 * The whole body of a GET; undefined for 404; other statuses throw (the caller retries). A body over `maxBytes`
 * (declared or sent) is an E_CACHE_DOWNLOAD, read no further: a server must not be able to fill memory.
 */
export async function httpGetBytes(
  url: string,
  stallMs = STALL_MS,
  maxBytes = Number.POSITIVE_INFINITY,
): Promise<Buffer | undefined> {
  const res = await httpGet(url, {}, stallMs);
  if (res.statusCode === 404) {
    res.resume();
    return undefined;
  }
  if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) > 299) {
    res.resume();
    throw new Error(`HTTP ${res.statusCode}`);
  }
  if (Number(res.headers['content-length'] ?? 0) > maxBytes) {
    res.destroy();
    throw overLimit(url, maxBytes);
  }
  const parts: Buffer[] = [];
  let length = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    length += chunk.length;
    if (length > maxBytes) throw overLimit(url, maxBytes); // leaving the loop destroys the response
    parts.push(chunk);
  }
  return Buffer.concat(parts, length);
}

/** A small file (an index, a manifest, a signature) that is not small. */
export function overLimit(url: string, maxBytes: number): AppError {
  return new AppError(
    'E_CACHE_DOWNLOAD',
    `${url}: more than ${maxBytes} bytes, the most this file may have`,
    {
      hint: "a cache's index, manifests and signatures are small files: check that the URL is a ferry cache",
    },
  );
}

function stalled(ms: number): Error {
  return new Error(`the server sent nothing for ${ms / 1000} s`);
}

/** A cache that could not be reached: the URL, and the deepest cause (fetch wraps the socket's error). */
export function unreachable(url: string, e: unknown): AppError {
  const why = e instanceof Error ? ((e.cause as Error | undefined)?.message ?? e.message) : String(e);
  if (isCertError(e))
    return new AppError('E_CACHE_TLS', `${url}: the server's certificate is not trusted here (${why})`, {
      hint: 'if the cache has a certificate authority of its own, give ferry its certificate with NODE_EXTRA_CA_CERTS=/path/to/ca.pem; ferry never fetches over an unverified connection',
      cause: e,
    });
  return new AppError('E_CACHE_UNREACHABLE', `${url}: ${why}`, {
    hint: 'check the URL and that the cache server runs',
    cause: e,
  });
}

/** TLS verification failures (OpenSSL's codes, and Node's for a name mismatch). */
const CERT_ERRORS = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_REVOKED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** An HTTPS server whose certificate fails verification: asking again gives the same answer, so it is not retried. */
export function isCertError(e: unknown): boolean {
  const code = (e as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && CERT_ERRORS.has(code);
}
