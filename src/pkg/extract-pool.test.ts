import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isAppError, sha256File, type Sha256 } from '../core/index.js';
import { ExtractPool } from './extract-pool.js';
import { extractHashed } from './extract.js';
import type { ArchiveInput } from './input.js';

const file = (path: string): ArchiveInput => ({ kind: 'file', path });

const work = mkdtempSync(join(tmpdir(), 'ferry-extract-pool-'));
after(() => {
  rmSync(work, { recursive: true, force: true });
});

/** A real tar.gz made by GNU tar from `files`, and its sha256. */
async function archive(name: string, files: Record<string, string>): Promise<{ file: string; sha: Sha256 }> {
  const src = join(work, `${name}-src`);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(src, rel, '..'), { recursive: true });
    writeFileSync(join(src, rel), text);
  }
  const file = join(work, `${name}.tar.gz`);
  execFileSync('tar', ['-czf', file, '-C', src, '--owner=0', '--group=0', ...Object.keys(files)]);
  return { file, sha: await sha256File(file) };
}

describe('ExtractPool', () => {
  test('one thread is as good for one package or one core', () => {
    assert.equal(ExtractPool.forPackages(1), undefined);
  });

  test('worker threads extract as the main thread does, several at once', async (t) => {
    const pool = ExtractPool.forPackages(3);
    if (pool === undefined) {
      t.skip('one core');
      return;
    }
    try {
      const made = await Promise.all(
        ['a', 'b', 'c'].map((n) => archive(n, { [`share/${n}.txt`]: `${n}\n`, 'bin/tool': '#!/bin/sh\n' })),
      );
      const got = await Promise.all(
        made.map((m, i) =>
          pool.extract({
            input: file(m.file),
            target: join(work, `out-${i}`),
            what: `pkg ${i}`,
            want: m.sha,
          }),
        ),
      );
      const here = await extractHashed({
        input: file(made[0]?.file ?? ''),
        target: join(work, 'out-main'),
        what: 'pkg 0',
        want: made[0]?.sha ?? ('' as Sha256),
      });
      assert.deepEqual(got[0], here);
      assert.equal(readFileSync(join(work, 'out-2', 'share', 'c.txt'), 'utf8'), 'c\n');
    } finally {
      await pool.close();
    }
  });

  test('jobs past the workers queue in them; a failed one does not stop those behind it', async (t) => {
    const pool = ExtractPool.forPackages(8, 2);
    if (pool === undefined) {
      t.skip('one core');
      return;
    }
    try {
      assert.equal(pool.capacity, 2 * pool.size, 'a caller keeps two jobs per worker outstanding');
      const names = ['q0', 'q1', 'q2', 'q3', 'q4', 'q5'];
      const made = await Promise.all(names.map((n) => archive(n, { [`${n}.txt`]: `${n}\n` })));
      // One bad job among them fails alone; the jobs queued behind it on its worker still run.
      const junk = join(work, 'q-junk.tar.gz');
      writeFileSync(junk, 'not an archive');
      const results = await Promise.allSettled(
        made.map((m, i) =>
          pool.extract({
            input: file(i === 2 ? junk : m.file),
            target: join(work, `out-${names[i]}`),
            what: names[i] ?? '',
            want: m.sha,
          }),
        ),
      );
      assert.deepEqual(
        results.map((r) => r.status),
        ['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled'],
      );
      assert.equal(readFileSync(join(work, 'out-q5', 'q5.txt'), 'utf8'), 'q5\n');
    } finally {
      await pool.close();
    }
  });

  test("a worker's error arrives with its code, hint and details", async (t) => {
    const pool = ExtractPool.forPackages(2);
    if (pool === undefined) {
      t.skip('one core');
      return;
    }
    try {
      // Junk with the signed hash is a broken archive; junk with another hash is a damaged file.
      const junk = join(work, 'not-gzip.tar.gz');
      writeFileSync(junk, 'not an archive');
      const junkSha = await sha256File(junk);
      await assert.rejects(
        pool.extract({ input: file(junk), target: join(work, 'out-junk'), what: 'pkg junk', want: junkSha }),
        (e) => isAppError(e) && e.code === 'E_ARCHIVE_CORRUPT',
      );
      await assert.rejects(
        pool.extract({
          input: file(junk),
          target: join(work, 'out-junk2'),
          what: 'pkg junk',
          want: '0'.repeat(64) as Sha256,
        }),
        (e) => {
          assert.ok(isAppError(e));
          assert.equal(e.code, 'E_PKG_HASH');
          assert.ok(e.message.includes(junkSha), e.message);
          assert.match(e.hint ?? '', /download it again/);
          return true;
        },
      );
      // A local archive that extracts is not hashed whole: its files' hashes are checked against the
      // signed manifest instead (stagePackage).
      const m = await archive('other-hash', { 'x.txt': 'x\n' });
      const got = await pool.extract({
        input: file(m.file),
        target: join(work, 'out-other'),
        what: 'pkg other',
        want: '0'.repeat(64) as Sha256,
      });
      assert.deepEqual(
        got.map((f) => f.path),
        ['x.txt'],
      );
      const ok = await archive('after', { 'y.txt': 'y\n' });
      let bytes = 0;
      const files = await pool.extract(
        { input: file(ok.file), target: join(work, 'out-after'), what: 'pkg after', want: ok.sha },
        (n) => {
          bytes += n;
        },
      );
      assert.equal(files.length > 0, true);
      assert.equal(bytes, statSync(ok.file).size, 'progress counts every byte of the archive');
    } finally {
      await pool.close();
    }
  });
});
