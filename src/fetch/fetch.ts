import { createHash } from 'node:crypto';
import { createWriteStream, readFileSync, readlinkSync, statSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { dirname, join, relative, resolve as resolvePath } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError, isErrno, sha256Bytes, sha256File, type Context, type Sha256 } from '../core/index.js';
import { fsyncDir, tempSibling, walkTree } from '../platform/index.js';
import type { Recipe, Source } from '../recipe/index.js';

/** A source ready to unpack: a verified file in a distfiles directory, or a directory beside the recipe. */
export interface FetchedSource {
  readonly kind: 'file' | 'dir';
  readonly path: string;
  readonly sha256: Sha256;
}

/** The hash that identifies a source in store path inputs, without downloading anything. */
export async function sourceHash(recipe: Recipe, source: Source): Promise<Sha256> {
  if (source.kind === 'url') return source.sha256;
  const path = localPath(recipe, source.path);
  return source.sha256 ?? (await hashLocal(path));
}

export interface FetchOptions {
  readonly allowNetwork: boolean;
}

export async function fetchSource(ctx: Context, recipe: Recipe, source: Source, opts: FetchOptions) {
  if (source.kind === 'path') return fetchLocal(recipe, source);
  const own = join(ctx.rootDir, 'distfiles');
  for (const dir of [own, ...ctx.distfilesDirs]) {
    const candidate = join(dir, source.fileName);
    let actual: Sha256;
    try {
      actual = await sha256File(candidate);
    } catch (e) {
      if (isErrno(e, 'ENOENT')) continue;
      throw e;
    }
    if (actual === source.sha256)
      return { kind: 'file', path: candidate, sha256: actual } satisfies FetchedSource;
    if (dir === own) await fs.rm(candidate, { force: true });
    ctx.reporter.warn(
      'E_FETCH_HASH',
      `${candidate} does not match ${recipe.name} ${recipe.version}: expected sha256 ${source.sha256}, got ${actual}${dir === own ? ' (deleted)' : ' (ignored)'}`,
    );
  }
  if (!opts.allowNetwork)
    throw new AppError(
      'E_FETCH_OFFLINE',
      `${source.fileName} (for ${recipe.name} ${recipe.version}) is in no distfiles directory`,
      {
        hint: `put it in ${own} or a directory listed in FERRY_DISTFILES, or allow downloads`,
      },
    );
  return download(ctx, recipe, source, own);
}

async function download(ctx: Context, recipe: Recipe, source: Extract<Source, { kind: 'url' }>, dir: string) {
  await fs.mkdir(dir, { recursive: true });
  const dest = join(dir, source.fileName);
  const tmp = tempSibling(dest);
  const id = `fetch:${source.fileName}`;
  ctx.reporter.start({ id, kind: 'fetch', text: source.url });
  try {
    const sha = await streamTo(source.url, tmp, ctx, id);
    if (sha !== source.sha256)
      throw new AppError('E_FETCH_HASH', `${source.url}: expected sha256 ${source.sha256}, got ${sha}`, {
        hint: `the download was deleted; if upstream re-released the file, check it and update ${recipe.file}`,
        details: { url: source.url, expected: source.sha256, actual: sha },
      });
    await fs.rename(tmp, dest);
    await fsyncDir(dir);
    ctx.reporter.finish(id, 'ok');
    return { kind: 'file', path: dest, sha256: sha } satisfies FetchedSource;
  } catch (e) {
    await fs.rm(tmp, { force: true });
    ctx.reporter.finish(id, 'failed');
    throw e;
  }
}

async function streamTo(url: string, tmp: string, ctx: Context, id: string): Promise<Sha256> {
  let res: Response;
  try {
    res = await fetch(url, ctx.signal === undefined ? {} : { signal: ctx.signal });
  } catch (e) {
    throw new AppError('E_FETCH_FAILED', `cannot download ${url}: ${(e as Error).message}`, {
      hint: 'check the network, or put the file in a distfiles directory (FERRY_DISTFILES) to work offline',
      cause: e,
    });
  }
  if (!res.ok || res.body === null)
    throw new AppError('E_FETCH_FAILED', `cannot download ${url}: HTTP ${res.status}`, {
      hint: 'check the URL in the recipe',
    });
  const total = Number(res.headers.get('content-length') ?? 0);
  const hash = createHash('sha256');
  let got = 0;
  const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
  body.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    got += chunk.length;
    ctx.reporter.progress(id, total > 0 ? `${Math.floor((got * 100) / total)}%` : `${got} bytes`);
  });
  await pipeline(body, createWriteStream(tmp, { flags: 'wx' }));
  return hash.digest('hex') as Sha256;
}

async function fetchLocal(recipe: Recipe, source: Extract<Source, { kind: 'path' }>): Promise<FetchedSource> {
  const path = localPath(recipe, source.path);
  const st = await fs.stat(path).catch((e: unknown) => {
    if (isErrno(e, 'ENOENT'))
      throw new AppError(
        'E_FETCH_PATH',
        `${recipe.file}: source path ${source.path} does not exist (${path})`,
        {
          hint: 'paths are relative to the directory holding the recipe',
        },
      );
    throw e;
  });
  const sha = await hashLocal(path);
  if (source.sha256 !== undefined && source.sha256 !== sha)
    throw new AppError('E_FETCH_HASH', `${path}: expected sha256 ${source.sha256}, got ${sha}`, {
      hint: `update the sha256 in ${recipe.file} if the change is intended`,
    });
  return { kind: st.isDirectory() ? 'dir' : 'file', path, sha256: sha };
}

/** The local paths whose content goes into a recipe's store path (those without a sha256 in the recipe). */
export function hashedLocalPaths(recipe: Recipe): string[] {
  return recipe.sources.flatMap((s) =>
    s.kind === 'path' && s.sha256 === undefined ? [localPath(recipe, s.path)] : [],
  );
}

function localPath(recipe: Recipe, rel: string): string {
  const base = dirname(recipe.file);
  const path = resolvePath(base, rel);
  if (relative(base, path).startsWith('..'))
    throw new AppError('E_FETCH_PATH', `${recipe.file}: source path ${rel} leaves the recipe's directory`);
  return path;
}

/** A file's sha256, or for a directory a sha256 over its sorted listing with each file's hash and mode. */
export async function hashLocal(path: string): Promise<Sha256> {
  const st = statSync(path);
  if (!st.isDirectory()) return hashFile(path, st.size);
  const lines: string[] = [];
  for (const e of await walkTree(path)) {
    if (e.kind === 'file')
      lines.push(
        `f ${e.rel} ${(e.mode & 0o111) !== 0 ? 'x' : '-'} ${await hashFile(join(path, e.rel), e.size)}`,
      );
    else if (e.kind === 'symlink') lines.push(`l ${e.rel} ${readlinkSync(join(path, e.rel))}`);
    else lines.push(`d ${e.rel}`);
  }
  return sha256Bytes(lines.join('\n'));
}

// Every command that plans hashes its recipes' local sources, mostly a few small files each: read at once,
// they cost a fraction of a stream's open, reads and close through the thread pool.
const SMALL_FILE = 1 << 20;

async function hashFile(path: string, size: number): Promise<Sha256> {
  return size <= SMALL_FILE ? sha256Bytes(readFileSync(path)) : sha256File(path);
}
