import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isAppError, sha256Bytes } from '../core/index.js';
import { HttpCacheSource } from './source.js';

/**
 * A real HTTP server on loopback that misbehaves on purpose: cuts the first response short, ignores Range, or
 * serves other bytes. Downloads must resume or retry, and never hand back a file that is not the expected one.
 */
describe('HTTP downloads', () => {
  const body = randomBytes(3 * 1024 * 1024 + 17);
  const expect = { sha256: sha256Bytes(body), size: body.length };
  const tmp = mkdtempSync(join(tmpdir(), 'ferry-http-'));
  const seen: { path: string; range: string | undefined }[] = [];
  let server: Server;
  let base = '';

  before(async () => {
    let cuts = 0;
    server = createServer((req, res) => {
      const path = req.url ?? '';
      seen.push({ path, range: req.headers.range });
      if (path === '/cut') {
        const from = Number(/bytes=(\d+)-/.exec(req.headers.range ?? '')?.[1] ?? 0);
        res.writeHead(from > 0 ? 206 : 200, { 'content-length': String(body.length - from) });
        if (cuts++ === 0) {
          res.write(body.subarray(0, 1024 * 1024));
          setTimeout(() => res.destroy(), 20);
        } else res.end(body.subarray(from));
      } else if (path === '/wrong') {
        const other = Buffer.from(body);
        other[5] = (other[5] ?? 0) ^ 1;
        res.end(other);
      } else if (path === '/long') res.end(Buffer.concat([body, body]));
      else res.writeHead(404).end();
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const addr = server.address();
    base = `http://127.0.0.1:${typeof addr === 'object' && addr !== null ? addr.port : 0}`;
  });
  after(async () => {
    server.close();
    await fs.rm(tmp, { recursive: true, force: true });
  });

  test('a response cut short is resumed with a Range request, and the result verified', async () => {
    const got = await new HttpCacheSource(base).archive('cut', expect, tmp);
    assert.deepEqual(await fs.readFile(got.file), body);
    const ranges = seen.filter((s) => s.path === '/cut').map((s) => s.range);
    assert.equal(ranges[0], undefined);
    assert.match(ranges[1] ?? '', /^bytes=\d+-$/);
  });

  for (const [path, why] of [
    ['wrong', /expected \d+ bytes with sha256/],
    ['long', /longer than the \d+ bytes expected/],
  ] as const)
    test(`a ${path} file is refused with the URL and both hashes, and deleted`, async () => {
      await assert.rejects(
        new HttpCacheSource(base).archive(path, expect, tmp),
        (e: unknown) =>
          isAppError(e) &&
          e.code === 'E_CACHE_DOWNLOAD' &&
          e.message.includes(`${base}/${path}`) &&
          why.test(e.message),
      );
      assert.deepEqual(
        (await fs.readdir(tmp)).filter((f) => f.startsWith(path)),
        [],
      );
    });

  test('a missing file says so', async () => {
    await assert.rejects(
      new HttpCacheSource(base).archive('nothing', expect, tmp),
      (e: unknown) => isAppError(e) && e.code === 'E_CACHE_MISSING',
    );
  });
});
