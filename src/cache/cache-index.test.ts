import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAppError, sha256Bytes, type Sha256 } from '../core/index.js';
import type { StoreId } from '../store/index.js';
import { checkFreshness, nextIndex, parseIndex, serializeIndex } from './cache-index.js';

const now = new Date('2026-11-22T00:00:00Z');
const h = sha256Bytes('x');
const id = '0123456789abcdfghijklmnpqrsvwxyz-zlib-1.3' as StoreId;
const first = nextIndex(
  undefined,
  new Map([[id, { manifestSha256: h, archiveSha256: h, archiveSize: 10 }]]),
  now,
  30,
);

test('each publication has a higher version and a fresh expiry; entries accumulate', () => {
  const second = nextIndex(first, new Map(), new Date('2026-12-01T00:00:00Z'), 7);
  assert.equal(first.version, 1);
  assert.equal(second.version, 2);
  assert.equal(second.expires, '2026-12-08T00:00:00.000Z');
  assert.deepEqual(Object.keys(second.packages), [id]);
  assert.deepEqual(parseIndex(serializeIndex(second), 'u'), second);
});

const seen = (version: number, sha256: Sha256 = h) => ({ url: 'u', version, sha256 });
const rows: {
  name: string;
  version: number;
  sha: Sha256;
  seen?: ReturnType<typeof seen>;
  at: Date;
  code?: string;
}[] = [
  { name: 'first contact', version: 1, sha: h, at: now },
  { name: 'newer than seen', version: 3, sha: h, seen: seen(2), at: now },
  { name: 'the same index again', version: 2, sha: h, seen: seen(2), at: now },
  {
    name: 'rollback to an older index',
    version: 1,
    sha: h,
    seen: seen(2),
    at: now,
    code: 'E_CACHE_ROLLBACK',
  },
  {
    name: 'other contents under a seen version',
    version: 2,
    sha: sha256Bytes('y'),
    seen: seen(2),
    at: now,
    code: 'E_CACHE_ROLLBACK',
  },
  {
    name: 'expired (freeze)',
    version: 1,
    sha: h,
    at: new Date('2027-01-01T00:00:00Z'),
    code: 'E_CACHE_EXPIRED',
  },
];

for (const r of rows)
  test(`freshness: ${r.name}`, () => {
    const run = () => {
      checkFreshness({ ...first, version: r.version }, r.sha, r.seen, r.at, 'http://c');
    };
    if (r.code === undefined) run();
    else
      assert.throws(
        run,
        (e: unknown) => isAppError(e) && e.code === r.code && e.message.startsWith('http://c'),
      );
  });

test('malformed indexes are refused with the URL', () => {
  for (const text of ['nope', '{"kind":"ferry-cache-index","formatVersion":1,"version":0}'])
    assert.throws(
      () => parseIndex(Buffer.from(text), 'http://c/index.json'),
      (e: unknown) => isAppError(e) && e.code === 'E_PKG_FORMAT' && e.message.includes('http://c/index.json'),
    );
});
