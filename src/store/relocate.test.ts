import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rewriteBytes } from './relocate.js';

test('text files: every occurrence, any length', () => {
  const out = rewriteBytes(
    Buffer.from('prefix=/old/root/store/x\nconf=/old/root/etc\n'),
    '/old/root',
    '/a/much/longer/root',
  );
  assert.equal(out.toString(), 'prefix=/a/much/longer/root/store/x\nconf=/a/much/longer/root/etc\n');
});

test('binaries: shorter root rewritten inside its C string, padded with NULs, size unchanged', () => {
  const elf = Buffer.concat([
    Buffer.from([0x7f, 0x45, 0x4c, 0x46]),
    Buffer.from('\0/old/root/store/n/conf/nginx.conf\0next\0'),
  ]);
  const out = rewriteBytes(elf, '/old/root', '/new');
  assert.ok(out !== 'too-long');
  assert.equal(out.length, elf.length);
  const strings = out.subarray(4).toString('latin1').split('\0');
  assert.deepEqual(
    strings.filter((s) => s !== ''),
    ['/new/store/n/conf/nginx.conf', 'next'],
  );
});

test('binaries: a longer root is refused', () => {
  const elf = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46]), Buffer.from('/r\0')]);
  assert.equal(rewriteBytes(elf, '/r', '/longer'), 'too-long');
});
