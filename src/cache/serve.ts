import { constants } from 'node:fs';
import * as fs from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join, normalize, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { isErrno } from '../core/index.js';

/**
 * A connection that takes nothing and sends nothing for this long is closed: a client that stops reading would
 * otherwise hold its socket and file open for good. A client that was downloading resumes with Range.
 */
const IDLE_MS = 60_000;

/**
 * `ferry cache serve`: the cache's static layout over HTTP, read-only, with Range for resumed downloads. Any
 * static web server does the same job; this one needs nothing installed. Paths cannot leave `dir`, through `..`
 * or through a symbolic link.
 */
export async function serveCache(dir: string, port: number, host: string): Promise<Server> {
  const root = await fs.realpath(dir);
  const server = createServer((req, res) => {
    handle(root, req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  server.timeout = IDLE_MS;
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => {
      ok();
    });
  });
  return server;
}

async function handle(root: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD')
    return void res.writeHead(405, { allow: 'GET, HEAD' }).end();
  const rel = relativePath(req.url);
  if (rel === undefined) return void res.writeHead(400).end();
  if (rel.split(sep).some((c) => c === '..' || c.startsWith('.'))) return void res.writeHead(404).end();
  const fh = await openInside(root, rel);
  if (fh === 'busy') return void res.writeHead(503, { 'retry-after': '1' }).end();
  if (fh === undefined) return void res.writeHead(404).end();
  try {
    // Measured on the open file: a push that renames another file over this name meanwhile changes neither
    // the length announced nor the bytes sent.
    const st = await fh.stat();
    if (!st.isFile()) return void res.writeHead(404).end();
    const range = parseRange(req.headers.range, st.size);
    if (range === 'unsatisfiable')
      return void res.writeHead(416, { 'content-range': `bytes */${st.size}` }).end();
    const [start, end] = range ?? [0, st.size - 1];
    res.writeHead(range === undefined ? 200 : 206, {
      'content-type': rel.endsWith('.json') ? 'application/json' : 'application/octet-stream',
      'content-length': String(end - start + 1),
      'accept-ranges': 'bytes',
      ...(range === undefined ? {} : { 'content-range': `bytes ${start}-${end}/${st.size}` }),
    });
    if (req.method === 'HEAD' || st.size === 0) return void res.end();
    // A client that goes away mid-file ends the copy (and the file is closed below), nothing more.
    await pipeline(fh.createReadStream({ start, end, highWaterMark: 1 << 20, autoClose: false }), res).catch(
      () => {
        res.destroy();
      },
    );
  } finally {
    await fh.close();
  }
}

/** The request's path below the cache, normalised; undefined when it is not a valid percent-encoding. */
function relativePath(url: string | undefined): string | undefined {
  try {
    return normalize(decodeURIComponent((url ?? '/').split('?')[0] ?? '/')).replace(/^\/+/, '');
  } catch {
    return undefined;
  }
}

/**
 * `rel` opened for reading when it is a file inside `root` by its real path: `ferry cache push` writes no links,
 * so one that leads elsewhere (a link to /etc in the served directory) is not followed out.
 */
async function openInside(root: string, rel: string): Promise<fs.FileHandle | 'busy' | undefined> {
  const real = await fs.realpath(join(root, rel)).catch(() => undefined);
  if (!real?.startsWith(`${root}${sep}`)) return undefined;
  // O_NONBLOCK: opening a FIFO would otherwise wait for a writer, holding one of libuv's four threads for good.
  // Out of descriptors is this server's state, not the file's: a 404 would tell the client the package is
  // missing ("push it again"); a 503 makes it try again.
  return fs
    .open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
    .catch((e: unknown) => (isErrno(e, 'EMFILE') || isErrno(e, 'ENFILE') ? 'busy' : undefined));
}

/**
 * One `bytes=FIRST-[LAST]` range, clamped to the file. Anything else, or LAST before FIRST, is ignored (the whole
 * file, as RFC 9110 allows); a FIRST at or past the end cannot be satisfied (416).
 */
function parseRange(h: string | undefined, size: number): [number, number] | 'unsatisfiable' | undefined {
  if (h === undefined) return undefined;
  const m = /^bytes=(\d+)-(\d*)$/.exec(h);
  if (m === null) return undefined;
  const start = Number(m[1]);
  if (m[2] !== '' && Number(m[2]) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return [start, m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)];
}
