import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAppError, sha256Bytes } from '../core/index.js';
import { glibcAtMost, parseManifest, type PackageManifest } from './manifest.js';
import { checkPlatform } from './unpack.js';

const h = sha256Bytes('x');
const good: PackageManifest = {
  formatVersion: 1,
  kind: 'ferry-package',
  id: '0123456789abcdfghijklmnpqrsvwxyz-zlib-1.3' as PackageManifest['id'],
  name: 'zlib',
  version: '1.3',
  slot: '0',
  options: {},
  license: 'Zlib',
  summary: '',
  recipeHash: h,
  sourceHashes: [h],
  references: [],
  platform: { os: 'linux', arch: 'x86_64', minGlibc: '2.34' },
  files: { lib: { type: 'dir' }, 'lib/libz.so.1': { type: 'file', sha256: h, size: 1, executable: false } },
  rootPathFiles: [],
  embeddedRoot: '/r',
  builtAt: '2026-11-22T00:00:00Z',
  archive: { sha256: h, size: 1, compression: 'gzip' },
};
const bytes = (m: unknown) => Buffer.from(JSON.stringify(m));

test('glibc versions compare per component', () => {
  assert.ok(glibcAtMost('2.9', '2.28'));
  assert.ok(glibcAtMost('2.36', '2.36'));
  assert.ok(!glibcAtMost('2.38', '2.36'));
});

const platforms: {
  name: string;
  host: { os: string; arch: string; glibc: string | undefined };
  message?: RegExp;
}[] = [
  { name: 'same arch, newer glibc here', host: { os: 'linux', arch: 'x86_64', glibc: '2.36' } },
  { name: 'no glibc to compare (musl)', host: { os: 'linux', arch: 'x86_64', glibc: undefined } },
  {
    name: 'another arch',
    host: { os: 'linux', arch: 'aarch64', glibc: '2.36' },
    message: /built for linux\/x86_64; this machine is linux\/aarch64/,
  },
  {
    name: 'an older glibc here',
    host: { os: 'linux', arch: 'x86_64', glibc: '2.31' },
    message: /needs glibc 2\.34; this machine has 2\.31 .*GLIBC_2\.34 not found/,
  },
];
for (const p of platforms)
  test(`platform: ${p.name}`, () => {
    const run = () => {
      checkPlatform(good, p.host);
    };
    if (p.message === undefined) run();
    else {
      const want = p.message;
      assert.throws(
        run,
        (e: unknown) => isAppError(e) && e.code === 'E_PKG_PLATFORM' && want.test(e.message),
      );
    }
  });

const malformed: { name: string; m: unknown; message: RegExp }[] = [
  { name: 'not JSON', m: 'x{', message: /not JSON/ },
  {
    name: 'a path that climbs out',
    m: { ...good, files: { '../etc/passwd': { type: 'dir' } } },
    message: /not a plain relative path/,
  },
  {
    name: 'an absolute path',
    m: { ...good, files: { '/etc': { type: 'dir' } } },
    message: /not a plain relative path/,
  },
  ...['', 'a//b', 'a/', './a', 'a/./b', 'a/..', '..', 'a\0b'].map((rel) => ({
    name: `the entry name ${JSON.stringify(rel)}`,
    m: { ...good, files: { [rel]: { type: 'dir' } } },
    message: /not a plain relative path/,
  })),
  { name: 'a bad store id', m: { ...good, id: '../../x' }, message: /field id/ },
  { name: 'a newer format', m: { ...good, formatVersion: 9 }, message: /formatVersion 9/ },
  {
    name: 'a root file that is not a file',
    m: { ...good, rootPathFiles: ['lib'] },
    message: /rootPathFiles/,
  },
];
for (const c of malformed)
  test(`manifest refused: ${c.name}`, () => {
    const input = typeof c.m === 'string' ? Buffer.from(c.m) : bytes(c.m);
    assert.throws(
      () => parseManifest(input, 'pkg.json'),
      (e: unknown) =>
        isAppError(e) &&
        e.code === 'E_PKG_FORMAT' &&
        e.message.startsWith('pkg.json') &&
        c.message.test(e.message),
    );
  });

test('a good manifest reads back as written', () => {
  assert.deepEqual(parseManifest(bytes(good), 'pkg.json'), good);
});

test('names with dots that are not "." or ".." are plain relative paths', () => {
  const dir = { type: 'dir' } as const;
  const m = {
    ...good,
    files: { ...good.files, '...': dir, '.profile': dir, 'a..b/c.': dir, 'x/.y/..z': dir },
  };
  assert.deepEqual(parseManifest(bytes(m), 'pkg.json'), m);
});
