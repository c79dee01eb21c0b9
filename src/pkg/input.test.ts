import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { isAppError, sha256Bytes } from '../core/index.js';
import { writeArchive } from './archive.js';
import { extractHashed } from './extract.js';
import { httpGetBytes, isCertError, openInput, rangedGet, unreachable, type ArchiveInput } from './input.js';

/**
 * A real HTTP server on loopback that misbehaves on purpose: cuts responses short, ignores Range, serves more
 * or other bytes. Downloads must resume, and an archive is extracted from the stream only when every byte is
 * the signed one.
 */
describe('archives over HTTP', () => {
  const work = mkdtempSync(join(tmpdir(), 'ferry-input-'));
  const body = randomBytes(3 * 1024 * 1024 + 17);
  let archive = Buffer.alloc(0);
  let recompressed = Buffer.alloc(0);
  const seen: { path: string; range: string | undefined }[] = [];
  const cuts = new Map<string, number>();
  let server: Server;
  let base = '';

  /** Serves `bytes` from the Range start (206) or whole (200); the first `cutTimes` responses stop at 1 MiB. */
  const serve = (
    res: import('node:http').ServerResponse,
    path: string,
    bytes: Buffer,
    from: number,
    o: { cutTimes?: number; ignoreRange?: boolean } = {},
  ) => {
    const start = o.ignoreRange === true ? 0 : from;
    res.writeHead(start > 0 ? 206 : 200, {
      'content-length': String(bytes.length - start),
      ...(start > 0 ? { 'content-range': `bytes ${start}-${bytes.length - 1}/${bytes.length}` } : {}),
    });
    const n = cuts.get(path) ?? 0;
    cuts.set(path, n + 1);
    if (n < (o.cutTimes ?? 0)) {
      res.write(bytes.subarray(start, start + Math.min(1024 * 1024, (bytes.length - start) >> 1)));
      setTimeout(() => res.destroy(), 20);
    } else res.end(bytes.subarray(start));
  };

  before(async () => {
    const tree = join(work, 'tree');
    mkdirSync(join(tree, 'share'), { recursive: true });
    writeFileSync(join(tree, 'share', 'data'), body);
    writeFileSync(join(tree, 'share', 'note.txt'), 'hello\n');
    await writeArchive(tree, join(work, 'pkg.tar.gz'), { level: 1 });
    archive = readFileSync(join(work, 'pkg.tar.gz'));
    recompressed = gzipSync(gunzipSync(archive), { level: 9 });
    server = createServer((req, res) => {
      const path = req.url ?? '';
      seen.push({ path, range: req.headers.range });
      const from = Number(/bytes=(\d+)-/.exec(req.headers.range ?? '')?.[1] ?? 0);
      const flipped = Buffer.from(body);
      flipped[5] = (flipped[5] ?? 0) ^ 1;
      const damaged = Buffer.from(archive);
      // The first deflate block's type made 3 (reserved): inflating fails at once. (A flipped byte further
      // in may inflate to other bytes; then the files' hashes, checked against the manifest, catch it.)
      damaged[10] = (damaged[10] ?? 0) | 0x06;
      if (path === '/moved') res.writeHead(302, { location: '/cut-too' }).end();
      else if (path === '/cut-too') serve(res, path, body, from, { cutTimes: 1 });
      else if (path === '/cut') serve(res, path, body, from, { cutTimes: 1 });
      else if (path === '/norange') serve(res, path, body, from, { cutTimes: 1, ignoreRange: true });
      else if (path === '/always-cut') serve(res, path, body, from, { cutTimes: 99 });
      else if (path === '/short') res.end(body.subarray(0, body.length - 1));
      else if (path === '/long') res.end(Buffer.concat([body, body]));
      else if (path === '/flipped') res.end(flipped);
      else if (path === '/pkg-cut') serve(res, path, archive, from, { cutTimes: 2 });
      else if (path === '/pkg-damaged') res.end(damaged);
      else if (path === '/pkg-recompressed') res.end(recompressed);
      else if (path === '/pkg-local') res.end(archive);
      else if (path === '/plain') res.end(body);
      else if (path === '/cut-fast') serve(res, path, body, from, { cutTimes: 1 });
      else if (path === '/chunked') {
        res.write(body.subarray(0, 1000));
        res.end(body.subarray(1000));
      } else res.writeHead(404).end();
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const addr = server.address();
    base = `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`;
  });
  after(() => {
    server.close();
    rmSync(work, { recursive: true, force: true });
  });

  const expect = () => ({ size: body.length, sha256: sha256Bytes(body) });
  const collect = async (path: string) => {
    const parts: Buffer[] = [];
    for await (const b of rangedGet(`${base}/${path}`, expect().size, expect().sha256)) parts.push(b);
    return Buffer.concat(parts);
  };

  test('a response cut short is resumed with a Range request', async () => {
    assert.deepEqual(await collect('cut'), body);
    const ranges = seen.filter((s) => s.path === '/cut').map((s) => s.range);
    assert.equal(ranges[0], undefined);
    assert.match(ranges[1] ?? '', /^bytes=\d+-$/);
  });

  test('a redirect is followed, and so is the resumed request', async () => {
    assert.deepEqual(await collect('moved'), body);
    assert.equal(seen.filter((s) => s.path === '/moved').length, 2);
    assert.match(seen.filter((s) => s.path === '/cut-too')[1]?.range ?? '', /^bytes=\d+-$/);
  });

  test('a server that ignores Range sends it all again, and what was passed on is skipped', async () => {
    assert.deepEqual(await collect('norange'), body);
  });

  test('bytes are yielded exactly as served: a flipped bit is for the hash check to find', async () => {
    const got = await collect('flipped');
    assert.equal(got.length, body.length);
    assert.notEqual(sha256Bytes(got), expect().sha256);
  });

  for (const [path, code, why] of [
    ['long', 'E_CACHE_DOWNLOAD', /longer than the \d+ bytes expected/],
    ['short', 'E_CACHE_DOWNLOAD', /got \d+ bytes; expected \d+ bytes with sha256 [0-9a-f]{64}/],
    ['always-cut', 'E_CACHE_UNREACHABLE', /./],
    ['nothing', 'E_CACHE_MISSING', /HTTP 404/],
  ] as const)
    test(`${path}: ${code}, naming the URL`, async () => {
      await assert.rejects(
        collect(path),
        (e: unknown) =>
          isAppError(e) && e.code === code && e.message.includes(`${base}/${path}`) && why.test(e.message),
      );
    });

  /** Through openInput, as an install reads it: the bytes, the requests made, the buffers they came in. */
  const fetched = async (path: string, url = `${base}/${path}`) => {
    const before = seen.length;
    const parts: Buffer[] = [];
    const backing = new Set<ArrayBufferLike>();
    for await (const b of openInput({ kind: 'http', url, ...expect() })) {
      backing.add(b.buffer);
      parts.push(Buffer.from(b));
    }
    return { bytes: Buffer.concat(parts), requests: seen.slice(before), backing };
  };

  test('plain HTTP is read into one reused buffer, in one request', async () => {
    const got = await fetched('plain');
    assert.ok(got.bytes.equals(body));
    assert.equal(got.requests.length, 1);
    // The first piece is what followed the response head, in the head's copy; the rest share one buffer.
    assert.equal(got.backing.size, 2, 'pieces are views of one buffer (net.connect onread)');
  });

  test('what the fast reader does not take goes to the HTTP client: a cut, chunks, a redirect, a 404', async () => {
    const cut = await fetched('cut-fast');
    assert.ok(cut.bytes.equals(body));
    assert.deepEqual(
      cut.requests.map((r) => r.range === undefined),
      [true, false],
      'the rest is asked for with a Range request',
    );
    const chunked = await fetched('chunked');
    assert.ok(chunked.bytes.equals(body));
    assert.equal(chunked.requests.length, 2);
    assert.ok((await fetched('moved')).bytes.equals(body));
    await assert.rejects(fetched('nothing'), (e: unknown) => isAppError(e) && e.code === 'E_CACHE_MISSING');
    await assert.rejects(
      fetched('long'),
      (e: unknown) => isAppError(e) && e.code === 'E_CACHE_DOWNLOAD' && e.message.includes('longer than'),
    );
  });

  /** A raw TCP server on loopback; `answer` gets each connection's socket and its count (from 0). */
  const withTcp = async (answer: (sock: Socket, n: number) => void, run: (url: string) => Promise<void>) => {
    let n = 0;
    const sockets = new Set<Socket>();
    const tcp = createTcpServer((sock) => {
      sockets.add(sock);
      sock.on('error', () => undefined);
      sock.once('data', () => {
        answer(sock, n++);
      });
    });
    await new Promise<void>((ok) => tcp.listen(0, '127.0.0.1', ok));
    const addr = tcp.address();
    try {
      await run(`http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}/x`);
    } finally {
      for (const s of sockets) s.destroy();
      tcp.close();
    }
  };
  const head = `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`;
  const read = async (url: string, stallMs: number) => {
    const parts: Buffer[] = [];
    for await (const b of openInput({ kind: 'http', url, ...expect(), stallMs })) parts.push(Buffer.from(b));
    return Buffer.concat(parts);
  };

  test('a response head that arrives in pieces is read whole', async () => {
    const padded = `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nX-Pad: ${'p'.repeat(3000)}\r\n\r\n`;
    await withTcp(
      (sock) => {
        sock.write(padded.slice(0, 10));
        setTimeout(() => sock.write(padded.slice(10, 2000)), 20);
        setTimeout(() => sock.end(Buffer.concat([Buffer.from(padded.slice(2000)), body])), 40);
      },
      async (url) => {
        assert.ok((await fetched('slow-head', url)).bytes.equals(body));
      },
    );
  });

  test('a server that stops sending mid-body is asked again for the rest; one that stays silent is an error', async () => {
    // First connection: half the body, then silence; the next ones answer the Range request.
    await withTcp(
      (sock, n) => {
        if (n === 0) sock.write(Buffer.concat([Buffer.from(head), body.subarray(0, body.length >> 1)]));
        else sock.end(Buffer.concat([Buffer.from(head), body]));
      },
      async (url) => {
        assert.ok((await read(url, 300)).equals(body));
      },
    );
    const started = Date.now();
    const silent = (url: string) =>
      assert.rejects(
        read(url, 200),
        (e: unknown) =>
          isAppError(e) &&
          e.code === 'E_CACHE_UNREACHABLE' &&
          e.message.includes(url) &&
          e.message.includes('sent nothing for 0.2 s'),
      );
    await withTcp(() => undefined, silent);
    // Silent after half the body, every time: the same error, not the socket's "aborted".
    await withTcp((sock) => sock.write(Buffer.concat([Buffer.from(head), body.subarray(0, 1000)])), silent);
    assert.ok(Date.now() - started < 20_000, 'given up on, not waited for forever');
  });

  test('a resumed request answered from the wrong byte is asked again, then refused', async () => {
    await withTcp(
      (sock, n) => {
        if (n === 0) sock.end(Buffer.concat([Buffer.from(head), body.subarray(0, 1000)]));
        else
          sock.end(
            Buffer.concat([
              Buffer.from(
                `HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-${body.length - 1}/${body.length}\r\n` +
                  `Content-Length: ${body.length}\r\n\r\n`,
              ),
              body,
            ]),
          );
      },
      (url) =>
        assert.rejects(
          read(url, 5000),
          (e: unknown) =>
            isAppError(e) && e.code === 'E_CACHE_UNREACHABLE' && e.message.includes('asked for bytes 1000-'),
        ),
    );
  });

  test("a head that Node's parser would refuse (bare LF, folded line) is not read by the fast reader", async () => {
    for (const bad of [
      `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\nTransfer-Encoding: chunked\r\n\r\n`,
      `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n Transfer-Encoding: chunked\r\n\r\n`,
    ])
      await withTcp(
        (sock) => sock.end(Buffer.concat([Buffer.from(bad), body])),
        (url) =>
          assert.rejects(read(url, 5000), (e: unknown) => isAppError(e) && e.code === 'E_CACHE_UNREACHABLE'),
      );
  });

  const http = (path: string, size = archive.length): ArchiveInput => ({
    kind: 'http',
    url: `${base}/${path}`,
    size,
    sha256: sha256Bytes(archive),
  });

  test('a small file over its limit is refused, declared or sent, and read no further', async () => {
    const limit = 1024 * 1024;
    const refused = (url: string) => (e: unknown) =>
      isAppError(e) &&
      e.code === 'E_CACHE_DOWNLOAD' &&
      e.message === `${url}: more than ${limit} bytes, the most this file may have`;
    // Endless chunks: refused once past the limit, the connection closed.
    let sent = 0;
    await withTcp(
      (sock) => {
        sock.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
        const chunk = Buffer.concat([
          Buffer.from('10000\r\n'),
          Buffer.alloc(0x10000, 1),
          Buffer.from('\r\n'),
        ]);
        const more = () => {
          while (!sock.destroyed && sock.write(chunk)) sent += 0x10000;
          if (!sock.destroyed) sock.once('drain', more);
        };
        more();
      },
      async (url) => {
        await assert.rejects(httpGetBytes(url, 5000, limit), refused(url));
      },
    );
    assert.ok(sent < 64 * limit, `the server got to send ${sent} bytes`);
    // A declared length over the limit: refused before the body.
    await withTcp(
      (sock) => sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${10 ** 12}\r\n\r\n`),
      async (url) => {
        await assert.rejects(httpGetBytes(url, 5000, limit), refused(url));
      },
    );
    // At the limit: taken.
    await withTcp(
      (sock) => sock.end(`HTTP/1.1 200 OK\r\nContent-Length: ${limit}\r\n\r\n${'x'.repeat(limit)}`),
      async (url) => {
        assert.equal((await httpGetBytes(url, 5000, limit))?.length, limit);
      },
    );
  });

  test('an archive is extracted as it downloads, across two dropped connections', async () => {
    let bytes = 0;
    const files = await extractHashed(
      { input: http('pkg-cut'), target: join(work, 'out-cut'), what: 'pkg', want: sha256Bytes(archive) },
      (n) => (bytes += n),
    );
    assert.deepEqual(readFileSync(join(work, 'out-cut', 'share', 'data')), body);
    assert.equal(files.find((f) => f.path === 'share/data')?.sha256, sha256Bytes(body));
    assert.equal(bytes, archive.length);
    assert.equal(seen.filter((s) => s.path === '/pkg-cut').length, 3);
  });

  test('a damaged download is reported with the URL and both hashes, and nothing is left', async () => {
    const want = sha256Bytes(archive);
    const target = join(work, 'out-damaged');
    await assert.rejects(
      extractHashed({ input: http('pkg-damaged'), target, what: `${base}/pkg-damaged`, want }),
      (e: unknown) =>
        isAppError(e) &&
        e.code === 'E_PKG_HASH' &&
        e.message.includes(`${base}/pkg-damaged`) &&
        e.message.includes(want) &&
        /sha256 is [0-9a-f]{64}/.test(e.message),
    );
    assert.equal(existsSync(target), false);
    assert.equal(seen.filter((s) => s.path === '/pkg-damaged').length, 2, 'fetched again to be hashed');
  });

  test('a local failure (the target exists) does not fetch the archive again', async () => {
    const target = join(work, 'out-exists');
    mkdirSync(target);
    await assert.rejects(
      extractHashed({ input: http('pkg-local'), target, what: 'pkg', want: sha256Bytes(archive) }),
      /extraction target .* exists/,
    );
    assert.ok(seen.filter((s) => s.path === '/pkg-local').length <= 1, 'not fetched again to be hashed');
  });

  test('an archive that extracts is not hashed: the same files compressed otherwise are taken, in one request', async () => {
    const files = await extractHashed({
      input: http('pkg-recompressed', recompressed.length),
      target: join(work, 'out-recompressed'),
      what: 'pkg',
      want: sha256Bytes(archive),
    });
    // The files' hashes are what the signed manifest vouches for; stagePackage checks them.
    assert.equal(files.find((f) => f.path === 'share/data')?.sha256, sha256Bytes(body));
    assert.equal(seen.filter((s) => s.path === '/pkg-recompressed').length, 1);
  });
});

test('a certificate that does not verify is E_CACHE_TLS with the way to trust it; other failures stay E_CACHE_UNREACHABLE', () => {
  const tls = Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
  assert.ok(isCertError(tls));
  const e = unreachable('https://cache.test/index.json', tls);
  assert.equal(e.code, 'E_CACHE_TLS');
  assert.match(
    e.message,
    /^https:\/\/cache\.test\/index\.json: .*not trusted here \(self-signed certificate\)$/,
  );
  assert.match(e.hint ?? '', /NODE_EXTRA_CA_CERTS=/);
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
  assert.ok(!isCertError(refused));
  assert.equal(unreachable('http://127.0.0.1:9/index.json', refused).code, 'E_CACHE_UNREACHABLE');
});
