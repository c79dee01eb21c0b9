import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join, normalize, sep } from 'node:path';

/**
 * `ferry cache serve`: the cache's static layout over HTTP, read-only, with Range for resumed downloads. Any
 * static web server does the same job; this one needs nothing installed. Paths cannot leave `dir`.
 */
export async function serveCache(dir: string, port: number, host: string): Promise<Server> {
  const server = createServer((req, res) => {
    handle(dir, req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => {
      ok();
    });
  });
  return server;
}

async function handle(dir: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405).end();
  const rel = normalize(decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/')).replace(/^\/+/, '');
  if (rel.split(sep).some((c) => c === '..' || c.startsWith('.'))) return void res.writeHead(404).end();
  const file = join(dir, rel);
  const st = await fs.stat(file).catch(() => undefined);
  if (st?.isFile() !== true) return void res.writeHead(404).end();
  const range = parseRange(req.headers.range, st.size);
  const type = file.endsWith('.json') ? 'application/json' : 'application/octet-stream';
  if (range === 'bad') return void res.writeHead(416, { 'content-range': `bytes */${st.size}` }).end();
  const [start, end] = range ?? [0, st.size - 1];
  res.writeHead(range === undefined ? 200 : 206, {
    'content-type': type,
    'content-length': String(end - start + 1),
    'accept-ranges': 'bytes',
    ...(range === undefined ? {} : { 'content-range': `bytes ${start}-${end}/${st.size}` }),
  });
  if (req.method === 'HEAD' || st.size === 0) return void res.end();
  createReadStream(file, { start, end, highWaterMark: 1 << 20 }).pipe(res);
}

function parseRange(h: string | undefined, size: number): [number, number] | 'bad' | undefined {
  if (h === undefined) return undefined;
  const m = /^bytes=(\d+)-(\d*)$/.exec(h);
  if (m === null) return undefined;
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  return start > end || start >= size ? 'bad' : [start, end];
}
