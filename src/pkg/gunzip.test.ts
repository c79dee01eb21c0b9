import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, afterEach, describe, test } from 'node:test';
import { deflateRawSync, gunzipSync, gzipSync } from 'node:zlib';
import { isAppError } from '../core/index.js';
import { readPieces } from '../platform/index.js';
import { forceInflateInPlace, Gunzip, inflateInPlace } from './gunzip.js';
import { extractArchive } from './untar.js';

const work = mkdtempSync(join(tmpdir(), 'ferry-gunzip-'));
after(() => {
  rmSync(work, { recursive: true, force: true });
});

/** Bytes that compress, but not to nothing: text with a counter in it. */
function sample(bytes: number): Buffer {
  const parts: string[] = [];
  for (let i = 0, n = 0; n < bytes; i++) {
    const line = `line ${i} of the sample, ${(i * 2654435761) % 1000003}\n`;
    parts.push(line);
    n += line.length;
  }
  return Buffer.from(parts.join('')).subarray(0, bytes);
}

/** Pushes `gz` in pieces of the given sizes in turn; returns the output and the buffers it came in. */
function inflate(gz: Buffer, sizes: number[], crc = true): { out: Buffer; backing: Set<ArrayBufferLike> } {
  const g = new Gunzip({ crc });
  const parts: Buffer[] = [];
  const backing = new Set<ArrayBufferLike>();
  const sink = (piece: Buffer) => {
    backing.add(piece.buffer);
    parts.push(Buffer.from(piece));
  };
  try {
    for (let off = 0, i = 0; off < gz.length; i++) {
      const n = sizes[i % sizes.length] ?? 1;
      g.push(gz.subarray(off, off + n), sink);
      off += n;
    }
    g.end(sink);
  } finally {
    g.close();
  }
  return { out: Buffer.concat(parts), backing };
}

describe('Gunzip', { skip: inflateInPlace() ? false : 'this Node has no zlib handle to write into' }, () => {
  const data = sample(3_000_000);
  const gz = gzipSync(data);

  for (const crc of [true, false]) {
    const mode = crc ? 'with the CRC' : 'without the CRC';

    test(`${mode}: gives what gunzip gives, however the input is cut, in one reused buffer`, () => {
      for (const sizes of [[gz.length], [1, 7, 4096], [65_536], [1 << 20]]) {
        const { out, backing } = inflate(gz, sizes, crc);
        assert.ok(out.equals(data), `pieces of ${sizes.join(', ')}`);
        assert.equal(backing.size, 1, 'every output piece is a view of one buffer');
      }
    });

    test(`${mode}: reads every member of a multi-member file, and zero padding after the last`, () => {
      const two = Buffer.concat([gzipSync(data.subarray(0, 1000)), gzipSync(data.subarray(1000, 5000))]);
      for (const sizes of [[1], [333], [two.length]])
        assert.ok(inflate(two, sizes, crc).out.equals(data.subarray(0, 5000)));
      assert.ok(
        inflate(Buffer.concat([two, Buffer.alloc(700)]), [256], crc).out.equals(data.subarray(0, 5000)),
      );
    });

    test(`${mode}: a truncated stream fails at its end, damaged data where it is`, () => {
      for (const cut of [5, 100, gz.length - 100, gz.length - 3])
        assert.throws(
          () => inflate(gz.subarray(0, cut), [4096], crc),
          { code: 'Z_BUF_ERROR' },
          `cut at ${cut}`,
        );
      const bad = Buffer.from(gz);
      bad.fill(0xaa, 2000, 2100);
      assert.throws(() => inflate(bad, [4096], crc), { code: 'Z_DATA_ERROR' });
      assert.throws(() => inflate(Buffer.concat([gz, Buffer.from('garbage')]), [4096], crc), {
        code: 'Z_DATA_ERROR',
      });
    });
  }

  test('without the CRC: a damaged CRC passes (the files are hashed), a wrong length does not', () => {
    const crcFlipped = Buffer.from(gz);
    crcFlipped[gz.length - 8] = (crcFlipped[gz.length - 8] ?? 0) ^ 0xff;
    assert.throws(() => inflate(crcFlipped, [4096], true), { code: 'Z_DATA_ERROR' });
    assert.ok(inflate(crcFlipped, [4096], false).out.equals(data));
    const lengthFlipped = Buffer.from(gz);
    lengthFlipped[gz.length - 4] = (lengthFlipped[gz.length - 4] ?? 0) ^ 0xff;
    assert.throws(() => inflate(lengthFlipped, [4096], false), { code: 'Z_DATA_ERROR' });
  });

  test('without the CRC: reads the optional header fields (extra, name, comment, header CRC)', () => {
    const body = deflateRawSync(data.subarray(0, 10_000));
    const extra = Buffer.from([4, 0, 0x41, 0x42, 0, 0]);
    const header = Buffer.concat([
      Buffer.from([0x1f, 0x8b, 8, 2 | 4 | 8 | 16, 0, 0, 0, 0, 0, 3]),
      extra,
      Buffer.from('name.tar\0comment\0'),
      Buffer.from([0x12, 0x34]),
    ]);
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(10_000, 4);
    const member = Buffer.concat([header, body, trailer]);
    for (const sizes of [[1], [3, 5], [member.length]])
      assert.ok(
        inflate(member, sizes, false).out.equals(data.subarray(0, 10_000)),
        `pieces of ${sizes.join(', ')}`,
      );
    const method = Buffer.from(member);
    method[2] = 9;
    assert.throws(() => inflate(method, [4096], false), { code: 'Z_DATA_ERROR' });
    const reserved = Buffer.from(member);
    reserved[3] = (reserved[3] ?? 0) | 0x80;
    assert.throws(() => inflate(reserved, [4096], false), { code: 'Z_DATA_ERROR' });
  });
});

describe('extractArchive inflates in place or through the stream, with the same result', () => {
  const src = join(work, 'src');
  mkdirSync(join(src, 'lib'), { recursive: true });
  writeFileSync(join(src, 'lib', 'big'), sample(2_500_000));
  for (let i = 0; i < 50; i++) writeFileSync(join(src, `small-${i}`), sample(100 + i * 37));
  const file = join(work, 'a.tar.gz');
  execFileSync('tar', ['-czf', file, '-C', src, '--owner=0', '--group=0', '.']);
  const gz = readFileSync(file);
  let n = 0;
  const target = () => join(work, `out-${n++}`);
  afterEach(() => {
    forceInflateInPlace(undefined);
  });

  for (const inPlace of [true, false])
    test(inPlace ? 'in place' : 'through the stream', async () => {
      forceInflateInPlace(inPlace);
      const reference = await extractArchive(Readable.from([gz]), target());
      assert.equal(reference.length, 52, 'lib, lib/big and 50 small files');
      assert.deepEqual(await extractArchive(file, target()), reference);
      const pieces = [];
      for (let off = 0; off < gz.length; off += 4099) pieces.push(gz.subarray(off, off + 4099));
      assert.deepEqual(await extractArchive(Readable.from(pieces), target()), reference);
      await assert.rejects(
        extractArchive(Readable.from([gz.subarray(0, gz.length - 1000)]), target(), { label: 'cut' }),
        (e: unknown) => isAppError(e) && e.code === 'E_ARCHIVE_CORRUPT' && e.message.startsWith('cut: '),
      );
    });

  test('a header or record cut across two pieces of one reused buffer is kept whole', async () => {
    const reference = await extractArchive(file, target());
    const plain = join(work, 'a.tar');
    writeFileSync(plain, gunzipSync(gz));
    for (const size of [511, 1000, 4097])
      assert.deepEqual(
        await extractArchive(readPieces(plain, size), target()),
        reference,
        `pieces of ${size}`,
      );
  });

  test('a gzip file read one byte at a time into one reused buffer: the magic bytes are kept whole', async () => {
    const small = join(work, 'small.tar.gz');
    execFileSync('tar', ['-czf', small, '-C', src, '--owner=0', '--group=0', 'small-1', 'small-2']);
    const reference = await extractArchive(small, target());
    assert.deepEqual(await extractArchive(readPieces(small, 1), target()), reference);
  });
});
