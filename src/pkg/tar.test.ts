import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  BLOCK,
  checksums,
  decodeHeader,
  decodeNumber,
  encodeEntry,
  encodeHeader,
  encodeNumber,
  encodePax,
  entryKind,
  normalizeEntryPath,
  padding,
  parsePax,
  splitUstarName,
  symlinkEscape,
  type HeaderFields,
  type TarHeader,
} from './tar.js';

function header(block: Uint8Array): TarHeader {
  const d = decodeHeader(block);
  assert.equal(d.kind, 'header', d.kind === 'bad' ? d.reason : d.kind);
  return (d as { header: TarHeader }).header;
}

function bytes(...parts: (string | number[])[]): Buffer {
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
}

describe('numeric fields', () => {
  const roundTrips: [number, number][] = [
    [0, 8],
    [0o755, 8],
    [8 ** 7 - 1, 8], // the largest octal uid
    [8 ** 7, 8], // base-256 from here
    [8 ** 11 - 1, 12], // the largest octal size (8 GiB - 1)
    [8 ** 11, 12],
    [300 * 2 ** 30, 12],
    [Number.MAX_SAFE_INTEGER, 12],
  ];
  for (const [n, len] of roundTrips)
    it(`${n} in ${len} bytes round-trips`, () => {
      const field = encodeNumber(n, len);
      assert.equal(field.length, len);
      assert.equal((field[0] ?? 0) >= 0x80, n >= 8 ** (len - 1), 'base-256 exactly when octal does not fit');
      assert.equal(decodeNumber(field), n);
    });

  const reads: [string, Buffer, number | undefined][] = [
    ['octal with NUL', bytes('0000755\0'), 0o755],
    ['octal filling the field', bytes('00000755'), 0o755],
    ['leading spaces, space end', bytes('   755 \0'), 0o755],
    ['all NUL (empty) is zero', Buffer.alloc(8), 0],
    ['all spaces is zero', bytes('        '), 0],
    ['garbage after the terminator is ignored', bytes('17\0xyzzy'), 0o17],
    ['not octal', bytes('0000798\0'), undefined],
    ['letters', bytes('abc\0\0\0\0\0'), undefined],
    ['base-256 positive', bytes([0x80, 0, 0, 0, 0, 0, 0x01, 0x00]), 256],
    ['base-256 negative (-1)', bytes([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), -1],
    ['base-256 with a stray first byte', bytes([0x81, 0, 0, 0, 0, 0, 0, 1]), undefined],
    ['base-256 beyond 2^53', bytes([0x80], Array<number>(11).fill(0xff)), undefined],
  ];
  for (const [what, field, want] of reads)
    it(`reads ${what}`, () => {
      assert.equal(decodeNumber(field), want);
    });

  it('refuses to encode what is not a size', () => {
    assert.throws(() => encodeNumber(-1, 8), /Assertion failed/);
    assert.throws(() => encodeNumber(1.5, 8), /Assertion failed/);
  });
});

describe('headers', () => {
  const rows: [string, HeaderFields][] = [
    ['file', { name: 'bin/hello', mode: 0o755, size: 12345, mtime: 0, type: '0' }],
    ['directory', { name: 'share/doc/', mode: 0o755, size: 0, mtime: 1_700_000_000, type: '5' }],
    ['symlink', { name: 'lib/libz.so', mode: 0o777, size: 0, mtime: 0, type: '2', linkname: 'libz.so.1.3' }],
    [
      'name with prefix',
      { name: 'name.txt', prefix: 'a'.repeat(155), mode: 0o644, size: 1, mtime: 0, type: '0' },
    ],
    ['UTF-8 name', { name: 'héllo/wörld ✓', mode: 0o644, size: 0, mtime: 0, type: '0' }],
    ['base-256 size', { name: 'big', mode: 0o644, size: 20 * 2 ** 30, mtime: 0, type: '0' }],
    ['100-byte name (no NUL)', { name: 'n'.repeat(100), mode: 0o644, size: 0, mtime: 0, type: '0' }],
  ];
  for (const [what, fields] of rows)
    it(`${what} round-trips`, () => {
      const block = encodeHeader(fields);
      assert.equal(block.length, BLOCK);
      const h = header(block);
      const prefix = fields.prefix ?? '';
      assert.equal(h.name, prefix === '' ? fields.name : `${prefix}/${fields.name}`);
      assert.equal(h.mode, fields.mode);
      assert.equal(h.size, fields.size);
      assert.equal(h.mtime, fields.mtime);
      assert.equal(h.type, fields.type);
      assert.equal(h.linkname, fields.linkname ?? '');
      assert.deepEqual([h.uid, h.gid, h.uname, h.gname], [0, 0, '', '']);
    });

  it('writes the checksum as six octal digits, NUL, space', () => {
    const block = encodeHeader({ name: 'a', mode: 0o644, size: 0, mtime: 0, type: '0' });
    const field = block.subarray(148, 156).toString('latin1');
    assert.match(field, /^[0-7]{6}\0 $/);
    assert.equal(parseInt(field.slice(0, 6), 8), checksums(block).unsigned);
  });

  it('writes the same bytes for the same fields', () => {
    const f: HeaderFields = { name: 'x', mode: 0o644, size: 3, mtime: 0, type: '0' };
    assert.deepEqual(encodeHeader(f), encodeHeader(f));
  });

  it('refuses a name that does not fit (the caller must use pax)', () => {
    assert.throws(
      () => encodeHeader({ name: 'n'.repeat(101), mode: 0, size: 0, mtime: 0, type: '0' }),
      /Assertion failed/,
    );
  });

  const good = () => encodeHeader({ name: 'file', mode: 0o644, size: 10, mtime: 0, type: '0' });
  const damaged: [string, (b: Buffer) => void, RegExp][] = [
    ['a flipped name byte', (b) => void (b[0] = 0x78), /checksum/],
    ['a flipped size byte', (b) => void (b[130] = 0x37), /checksum/],
    [
      'a checksum that is not a number',
      (b) => void b.write('zzzzzz', 148, 'latin1'),
      /checksum field is not a number/,
    ],
    ['no ustar magic', (b) => void b.write('xxxxx\0', 257, 'latin1'), /magic/],
    ['a size that is not octal', (b) => void b.write('0000000009\0', 124, 'latin1'), /size/],
    ['a name that is not UTF-8', (b) => void (b[1] = 0xff), /UTF-8/],
  ];
  for (const [what, damage, reason] of damaged)
    it(`refuses a header with ${what}`, () => {
      const block = good();
      damage(block);
      if (!reason.source.includes('checksum')) fixChecksum(block);
      const d = decodeHeader(block);
      assert.equal(d.kind, 'bad');
      assert.match(d.kind === 'bad' ? d.reason : '', reason);
    });

  it('accepts an old-style signed checksum', () => {
    const block = good();
    block.write('ü', 265, 'latin1'); // uname byte above 127 makes the signed and unsigned sums differ
    block.write(`${checksums(block).signed.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    assert.equal(header(block).name, 'file');
  });

  it('reads a zero block as the end marker and a short block as bad', () => {
    assert.deepEqual(decodeHeader(Buffer.alloc(BLOCK)), { kind: 'zero' });
    assert.equal(decodeHeader(Buffer.alloc(100)).kind, 'bad');
  });

  it('reads typeflag NUL as a regular file, and ignores the prefix field of old GNU headers', () => {
    const block = encodeHeader({ name: 'f', prefix: 'pre', mode: 0o644, size: 0, mtime: 0, type: '0' });
    block[156] = 0;
    block.write('ustar  \0', 257, 'latin1');
    fixChecksum(block);
    const h = header(block);
    assert.equal(h.type, '0');
    assert.equal(h.name, 'f');
  });
});

function fixChecksum(block: Buffer): void {
  block.write(`${checksums(block).unsigned.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
}

describe('pax records', () => {
  it('round-trips records, including lengths that gain a digit', () => {
    // "n path=<v>\n": 7 + value bytes; values of 90..93 bytes cross 99 → 100.
    for (let len = 85; len < 100; len++) {
      const records: [string, string][] = [
        ['path', 'p'.repeat(len)],
        ['linkpath', 'ü'.repeat(len)],
      ];
      const parsed = parsePax(encodePax(records));
      assert.equal(parsed.kind, 'ok');
      assert.deepEqual(parsed.kind === 'ok' ? [...parsed.records] : [], records);
    }
  });

  it('takes the value up to the newline, with "=" and spaces in it', () => {
    const parsed = parsePax(Buffer.from('23 comment=a = b c d e\n'));
    assert.deepEqual(parsed.kind === 'ok' ? parsed.records.get('comment') : undefined, 'a = b c d e');
  });

  it('stops at NUL padding', () => {
    const body = Buffer.concat([encodePax([['size', '5']]), Buffer.alloc(10)]);
    assert.equal(parsePax(body).kind, 'ok');
  });

  const bad: [string, string | Buffer][] = [
    ['a length that is too long', '99 path=a\n'],
    ['a length that is too short', '5 path=abc\n'],
    ['no length', 'path=a\n'],
    ['no "="', '10 pathxa\n'],
    ['a leading zero length', '011 path=a\n'],
    ['no newline at the end', '11 path=ab '],
    [
      'a value that is not UTF-8',
      Buffer.concat([Buffer.from('11 path='), Buffer.from([0xff, 0xfe]), Buffer.from('\n')]),
    ],
  ];
  for (const [what, body] of bad)
    it(`refuses ${what}`, () => {
      assert.equal(parsePax(typeof body === 'string' ? Buffer.from(body) : body).kind, 'bad');
    });
});

describe('encodeEntry', () => {
  function decodeAll(buf: Buffer): { pax: ReadonlyMap<string, string> | undefined; h: TarHeader } {
    assert.equal(buf.length % BLOCK, 0);
    const first = header(buf.subarray(0, BLOCK));
    if (first.type !== 'x') return { pax: undefined, h: first };
    const body = parsePax(buf.subarray(BLOCK, BLOCK + first.size));
    assert.equal(body.kind, 'ok');
    const at = BLOCK + first.size + padding(first.size);
    return { pax: body.kind === 'ok' ? body.records : undefined, h: header(buf.subarray(at, at + BLOCK)) };
  }

  const rows: [string, string, string, number, string[]][] = [
    // what, path, link, size, pax keys expected
    ['short names', 'bin/x', '', 0, []],
    ['a path split into prefix and name', `${'d'.repeat(120)}/${'f'.repeat(90)}`, '', 0, []],
    ['a long component', 'x'.repeat(300), '', 0, ['path']],
    ['a path over 255 bytes', `${'d'.repeat(150)}/${'e'.repeat(150)}/f`, '', 0, ['path']],
    ['a long UTF-8 path', 'ü'.repeat(120), '', 0, ['path']],
    ['a long link target', 'l', `../${'t'.repeat(200)}`, 0, ['linkpath']],
    ['a size over 8 GiB', 'big', '', 9 * 2 ** 30, ['size']],
  ];
  for (const [what, path, link, size, keys] of rows)
    it(`writes ${what}`, () => {
      const type = link === '' ? '0' : '2';
      const { pax, h } = decodeAll(encodeEntry({ path, type, mode: 0o644, size, mtime: 0, linkname: link }));
      assert.deepEqual([...(pax?.keys() ?? [])], keys);
      assert.equal(pax?.get('path') ?? h.name, path);
      assert.equal(pax?.get('linkpath') ?? h.linkname, link);
      assert.equal(Number(pax?.get('size') ?? h.size), size);
      assert.equal(h.size, size, 'the ustar size field carries the size too (base-256)');
    });

  it('cuts a truncated fallback name at a character boundary', () => {
    const { h } = decodeAll(
      encodeEntry({ path: 'ü'.repeat(120), type: '0', mode: 0o644, size: 0, mtime: 0 }),
    );
    assert.equal(h.name, 'ü'.repeat(50));
  });

  const splits: [string, { prefix: string; name: string } | undefined][] = [
    ['short', { prefix: '', name: 'short' }],
    [`${'a'.repeat(155)}/${'b'.repeat(100)}`, { prefix: 'a'.repeat(155), name: 'b'.repeat(100) }],
    [`${'a'.repeat(156)}/${'b'.repeat(10)}`, undefined],
    [`${'a'.repeat(10)}/${'b'.repeat(101)}`, undefined],
    [`${'a'.repeat(150)}/`, undefined],
    [`a/b/${'c'.repeat(99)}/`, { prefix: 'a/b', name: `${'c'.repeat(99)}/` }],
  ];
  for (const [path, want] of splits)
    it(`splits a ${path.length}-byte path ${want === undefined ? 'not at all' : 'into prefix and name'}`, () => {
      assert.deepEqual(splitUstarName(path), want);
    });
});

describe('entry names', () => {
  const ok: [string, string][] = [
    ['a', 'a'],
    ['./a', 'a'],
    ['a//b/', 'a/b'],
    ['./a/./b/.', 'a/b'],
    ['.', ''],
    ['./', ''],
    ['a..b/..c', 'a..b/..c'],
    ['...', '...'],
  ];
  for (const [name, want] of ok)
    it(`normalises ${JSON.stringify(name)} to ${JSON.stringify(want)}`, () => {
      assert.deepEqual(normalizeEntryPath(name), { ok: true, path: want });
    });

  const refused: [string, RegExp][] = [
    ['/etc/passwd', /absolute/],
    ['//x', /absolute/],
    ['..', /\.\./],
    ['../x', /\.\./],
    ['a/../../x', /\.\./],
    ['a/../b', /\.\./],
    ['a/..', /\.\./],
    ['a\0b', /NUL/],
    ['', /empty/],
  ];
  for (const [name, reason] of refused)
    it(`refuses ${JSON.stringify(name)}`, () => {
      const r = normalizeEntryPath(name);
      assert.equal(r.ok, false);
      assert.match(r.ok ? '' : r.reason, reason);
    });
});

describe('symlinkEscape', () => {
  const links = new Map([
    ['sub/up', '..'],
    ['sub/self', '.'],
    ['loop/a', 'b'],
    ['loop/b', 'a'],
    ['abs', '/etc'],
  ]);
  const rows: [string, string, RegExp | undefined][] = [
    ['lib/libz.so', 'libz.so.1', undefined],
    ['bin/x', '../lib/x', undefined],
    ['a/b/c', '../../d', undefined],
    ['a', '.', undefined],
    ['a', 'missing/../x', undefined],
    ['a', 'sub/up', undefined],
    ['a', 'sub/self/../x', undefined],
    ['a', '..', /outside/],
    ['a/b', '../../x', /outside/],
    ['a', '../target/x', /outside/],
    ['a', '/etc', /absolute/],
    ['a', '', /empty/],
    ['a', 'x\0y', /NUL/],
    ['a', 'sub/up/..', /outside/],
    ['a', 'sub/up/../outside', /outside/],
    ['deep/x', '../sub/up/up', undefined],
    ['a', 'loop/a', /loop/],
    ['a', 'abs/passwd', /absolute/],
  ];
  for (const [path, target, want] of rows)
    it(`${path} -> ${JSON.stringify(target)} ${want === undefined ? 'stays inside' : `is refused (${want.source})`}`, () => {
      const why = symlinkEscape(path, target, links);
      if (want === undefined) assert.equal(why, undefined);
      else assert.match(why ?? '', want);
    });
});

describe('entryKind', () => {
  const rows: [string, string | RegExp][] = [
    ['0', 'file'],
    ['5', 'dir'],
    ['2', 'symlink'],
    ['1', /hard link/],
    ['3', /character device/],
    ['4', /block device/],
    ['6', /FIFO/],
    ['7', /contiguous/],
    ['S', /sparse/],
    ['V', /unsupported type "V"/],
  ];
  for (const [type, want] of rows)
    it(`type ${type}`, () => {
      const k = entryKind(type);
      if (typeof want === 'string') assert.deepEqual(k, { ok: true, kind: want });
      else assert.match(k.ok ? '' : k.reason, want);
    });
});
