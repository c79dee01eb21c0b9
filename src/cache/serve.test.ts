import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { serveCache } from './serve.js';

describe('ferry cache serve', () => {
  const work = mkdtempSync(join(tmpdir(), 'ferry-serve-'));
  const dir = join(work, 'cache');
  const big = Buffer.alloc(8 * 1024 * 1024, 7);
  let server: Server;
  let port = 0;

  before(async () => {
    mkdirSync(join(dir, 'pkg'), { recursive: true });
    writeFileSync(join(dir, 'index.json'), '{"ten":"bytes"}'.slice(0, 10));
    writeFileSync(join(dir, 'pkg', 'big.tar.gz'), big);
    writeFileSync(join(work, 'secret.txt'), 'SECRET\n');
    symlinkSync(join(work, 'secret.txt'), join(dir, 'pkg', 'link.json'));
    symlinkSync(work, join(dir, 'up'));
    execFileSync('mkfifo', [join(dir, 'pkg', 'fifo.json')]);
    server = await serveCache(dir, 0, '127.0.0.1');
    port = (server.address() as AddressInfo).port;
  });
  after(() => {
    server.close();
    rmSync(work, { recursive: true, force: true });
  });

  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
    new Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }>((ok, fail) => {
      const req = request({ host: '127.0.0.1', port, path, headers, method }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => {
          ok({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) });
        });
      });
      req.on('error', fail);
      req.end();
    });

  test('files of the layout, whole or from a byte on', async () => {
    const whole = await get('/index.json');
    assert.equal(whole.status, 200);
    assert.equal(whole.body.toString(), '{"ten":"by');
    assert.equal(whole.headers['content-type'], 'application/json');
    const part = await get('/pkg/big.tar.gz', { range: `bytes=${big.length - 5}-` });
    assert.equal(part.status, 206);
    assert.equal(part.headers['content-range'], `bytes ${big.length - 5}-${big.length - 1}/${big.length}`);
    assert.equal(part.body.length, 5);
  });

  test('ranges: one past the end is 416; an invalid one is ignored (the whole file)', async () => {
    const past = await get('/index.json', { range: 'bytes=10-' });
    assert.equal(past.status, 416);
    assert.equal(past.headers['content-range'], 'bytes */10');
    const backwards = await get('/index.json', { range: 'bytes=5-3' });
    assert.equal(backwards.status, 200);
    assert.equal(backwards.body.length, 10);
    const several = await get('/index.json', { range: 'bytes=0-1,4-5' });
    assert.equal(several.status, 200);
  });

  test('nothing outside the directory: not through .., nor through a link, nor hidden files', async () => {
    for (const path of [
      '/../secret.txt',
      '/%2e%2e/secret.txt',
      '/pkg/link.json',
      '/up/secret.txt',
      '/',
      '/pkg/',
    ])
      assert.equal((await get(path)).status, 404, path);
    assert.equal((await get('/%E0%A4%A')).status, 400, 'a broken percent-encoding');
    const post = await get('/index.json', {}, 'POST');
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
  });

  test('a FIFO in the directory is not waited on', async () => {
    assert.equal((await get('/pkg/fifo.json')).status, 404);
    assert.equal((await get('/index.json')).status, 200, 'the server still answers');
  });

  test('out of file descriptors, it answers 503 (try again), not 404 (the package is missing)', async () => {
    // A server of its own in a child process, its descriptor limit then set just above the lowest free one:
    // the next connection is accepted on that one, and opening the file fails with EMFILE.
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { serveCache } = await import(${JSON.stringify(new URL('./serve.js', import.meta.url).href)});
         const s = await serveCache(${JSON.stringify(dir)}, 0, '127.0.0.1');
         console.log(s.address().port);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      const childPort = await new Promise<number>((ok) =>
        child.stdout.once('data', (d: Buffer) => {
          ok(Number(d));
        }),
      );
      const fds = new Set(readdirSync(`/proc/${child.pid}/fd`).map(Number));
      let free = 0;
      while (fds.has(free)) free++;
      const limited = spawnSync('prlimit', [`--pid=${child.pid}`, `--nofile=${free + 1}:${free + 1}`]);
      assert.equal(limited.status, 0, limited.stderr.toString());
      const r = await new Promise<{ status: number; retry: unknown }>((ok, fail) => {
        request({ host: '127.0.0.1', port: childPort, path: '/index.json' }, (res) => {
          res.resume();
          ok({ status: res.statusCode ?? 0, retry: res.headers['retry-after'] });
        })
          .on('error', fail)
          .end();
      });
      assert.deepEqual(r, { status: 503, retry: '1' });
    } finally {
      const closed = new Promise((ok) => child.once('close', ok));
      child.kill();
      await closed; // its pipes closed before the next test counts descriptors
    }
  });

  test('clients that go away mid-file leave no file open', async () => {
    const open = () => readdirSync('/proc/self/fd').length;
    const before = open();
    await Promise.all(
      Array.from(
        { length: 8 },
        () =>
          new Promise<void>((ok) => {
            const s = connect(port, '127.0.0.1', () => {
              s.write('GET /pkg/big.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n');
            });
            s.once('data', () => {
              s.destroy();
              ok();
            });
          }),
      ),
    );
    for (let i = 0; i < 100 && open() > before; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(open(), before);
    assert.equal((await get('/index.json')).status, 200);
  });
});
