import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, afterEach, describe, test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
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
function inflate(gz: Buffer, sizes: number[]): { out: Buffer; backing: Set<ArrayBufferLike> } {
  const g = new Gunzip();
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

  test('gives what gunzip gives, however the input is cut, in one reused buffer', () => {
    for (const sizes of [[gz.length], [1, 7, 4096], [65_536], [1 << 20]]) {
      const { out, backing } = inflate(gz, sizes);
      assert.ok(out.equals(data), `pieces of ${sizes.join(', ')}`);
      assert.equal(backing.size, 1, 'every output piece is a view of one buffer');
    }
  });

  test('reads every member of a multi-member gzip file', () => {
    const two = Buffer.concat([gzipSync(data.subarray(0, 1000)), gzipSync(data.subarray(1000, 5000))]);
    assert.ok(inflate(two, [333]).out.equals(data.subarray(0, 5000)));
  });

  test('a truncated stream fails at its end, damaged data where it is', () => {
    assert.throws(() => inflate(gz.subarray(0, gz.length - 100), [4096]), { code: 'Z_BUF_ERROR' });
    const bad = Buffer.from(gz);
    bad.fill(0xaa, 2000, 2100);
    assert.throws(() => inflate(bad, [4096]), { code: 'Z_DATA_ERROR' });
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
