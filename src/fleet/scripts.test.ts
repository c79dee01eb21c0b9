import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { tarPieces } from '../pkg/index.js';
import { runStreaming } from '../platform/index.js';
import { compressTo, endMember, smallMember, zstdStoredFrame, type Piece } from './compress.js';
import { ACTIVATE, RECEIVE, receiveHeader } from './scripts.js';

// The host side is plain sh: these run the real scripts with the real /bin/sh, tar and gzip on a scratch root.
const base = mkdtempSync(join(tmpdir(), 'ferry-scripts-'));
after(() => {
  rmSync(base, { recursive: true, force: true });
});

function rootWithGenerations(name: string, gens: readonly number[], current: number): string {
  const root = join(base, name);
  for (const g of gens) mkdirSync(join(root, 'profiles', 'web.d', String(g)), { recursive: true });
  symlinkSync(`web.d/${current}`, join(root, 'profiles', 'web'));
  return root;
}

for (const codec of ['gzip', 'zstd'] as const)
  test(`RECEIVE: a ${codec} stream cut short fails, and nothing becomes visible`, async () => {
    const root = join(base, `cut-${codec}`);
    const id = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-x-1';
    const chunks: Buffer[] = [];
    const pieces = (async function* () {
      yield await Promise.resolve({ data: Buffer.alloc(300_000, 7), stored: false });
    })();
    await compressTo(codec, pieces, async (chunk) => {
      chunks.push(await Promise.resolve(chunk));
    });
    const whole = Buffer.concat(chunks);
    const r = await receive(root, 't1', receiveHeader('web:1', codec, [id], []), [
      whole.subarray(0, whole.length / 2),
    ]);
    assert.notEqual(r.exitCode, 0);
    assert.match(r.stderr, /gzip|premature|cut short/);
    assert.ok(!existsSync(join(root, 'store', id)));
    assert.ok(!existsSync(join(root, 'profiles', 'web.d', '1')));
  });

test('RECEIVE: store paths packed by either codec, as members or frames in a row, land whole', async () => {
  const src = join(base, 'src');
  const ids = ['bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-a-1', 'cccccccccccccccccccccccccccccccc-b-1'];
  for (const id of ids) {
    mkdirSync(join(src, id, 'bin'), { recursive: true });
    writeFileSync(join(src, id, 'bin', 'tool'), `#!/bin/sh\necho ${id}\n`.repeat(500));
    writeFileSync(join(src, id, 'noise'), randomBytes(200_000));
  }
  for (const codec of ['gzip', 'zstd'] as const) {
    const root = join(base, `whole-${codec}`);
    const stream = async function* () {
      for (const id of ids) {
        const pieces = tarPieces([{ dir: join(src, id), as: id, replace: new Map() }], {
          dirs: [],
          files: [{ path: `.meta/${id}.json`, data: Buffer.from('{}\n') }],
          end: false,
        });
        const out: Buffer[] = [];
        await compressTo(codec, stored(pieces), async (chunk) => {
          out.push(await Promise.resolve(chunk));
        });
        yield* out;
      }
      yield endMember(codec);
    };
    const r = await receive(root, 't5', receiveHeader('', codec, ids, []), stream());
    assert.equal(r.exitCode, 0, r.stderr);
    for (const id of ids) {
      assert.deepEqual(readFileSync(join(root, 'store', id, 'noise')), readFileSync(join(src, id, 'noise')));
      assert.ok(existsSync(join(root, 'store', '.meta', `${id}.json`)));
      assert.equal(statSync(join(root, 'store', id, 'bin', 'tool')).mode & 0o222, 0, 'made read-only');
    }
    assert.deepEqual(readdirSync(join(root, 'store')).sort(), ['.meta', ...ids].sort(), 'no scratch left');
  }
});

test('RECEIVE: a store path name that is not a plain word is refused, and nothing runs', async () => {
  const root = join(base, 'badid');
  const marker = join(base, 'badid-ran');
  const header = receiveHeader('', 'gzip', [`x $(touch ${marker})`, `'; touch ${marker}; '`], []);
  const r = await receive(root, 't7', header, [endMember('gzip')]);
  assert.equal(r.exitCode, 3);
  assert.match(r.stderr, /bad store path name/);
  assert.ok(!existsSync(marker));
});

test('RECEIVE: a codec it does not know is refused before anything is read', async () => {
  const r = await receive(join(base, 'bad'), 't6', receiveHeader('', 'rm -rf', [], []), []);
  assert.equal(r.exitCode, 3);
  assert.match(r.stderr, /unknown codec/);
});

test('RECEIVE: started ahead, it waits for its line; stdin closed before it ends it with nothing done', async () => {
  const root = join(base, 'ahead');
  const idle = await receive(root, 't8', undefined, []);
  assert.deepEqual([idle.exitCode, idle.stderr], [0, '']);
  assert.ok(!existsSync(root), 'nothing made');
  let release: () => void = () => undefined;
  const later = new Promise<void>((resolve) => (release = resolve));
  const r = runStreaming('/bin/sh', ['-c', RECEIVE, 'sh', root, 't9'], {
    stdin: (async function* () {
      await later;
      yield Buffer.from(receiveHeader('', 'gzip', [], []));
      yield endMember('gzip');
    })(),
  });
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.ok(!existsSync(root), 'nothing made before the line');
  release();
  assert.equal((await r).exitCode, 0);
  assert.deepEqual(readdirSync(join(root, 'store')), ['.meta']);
});

/** RECEIVE as ferry runs it: its line (none: stdin closes at once), then the data. */
function receive(
  root: string,
  token: string,
  header: string | undefined,
  data: Iterable<Buffer> | AsyncIterable<Buffer>,
) {
  return runStreaming('/bin/sh', ['-c', RECEIVE, 'sh', root, token], {
    stdin: (async function* () {
      if (header === undefined) return;
      yield Buffer.from(header);
      yield* data;
    })(),
  });
}

/** Tar pieces as compressor input; every other one marked stored, so gzip switches levels between members. */
async function* stored(pieces: AsyncIterable<{ data: Buffer }>): AsyncGenerator<Piece> {
  let i = 0;
  for await (const p of pieces) yield { data: p.data, stored: i++ % 2 === 1 };
}

test('ACTIVATE: a target that does not exist switches nothing', async () => {
  const root = rootWithGenerations('bad-target', [1, 2], 1);
  mkdirSync(join(root, 'profiles', 'api.d', '1'), { recursive: true });
  symlinkSync('api.d/1', join(root, 'profiles', 'api'));
  const r = await runStreaming('/bin/sh', [
    '-c',
    ACTIVATE,
    'sh',
    root,
    't2',
    '',
    '5',
    'web',
    '2',
    'api',
    '9',
  ]);
  assert.equal(r.exitCode, 3);
  assert.equal(readlinkSync(join(root, 'profiles', 'web')), 'web.d/1');
});

test('ACTIVATE: with the controller gone, a failing check still puts the link back', async () => {
  const root = rootWithGenerations('gone', [1, 2], 1);
  const child = spawn('/bin/sh', ['-c', ACTIVATE, 'sh', root, 't3', 'sleep 1; exit 1', '10', 'web', '2'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.destroy();
  child.stderr.destroy();
  await new Promise((resolve) => child.on('close', resolve));
  assert.equal(readlinkSync(join(root, 'profiles', 'web')), 'web.d/1');
});

test('ACTIVATE: a passing check keeps the new generation and reports the switch', async () => {
  const root = rootWithGenerations('ok', [1, 2], 1);
  const r = await runStreaming('/bin/sh', ['-c', ACTIVATE, 'sh', root, 't4', 'true', '10', 'web', '2']);
  assert.equal(r.exitCode, 0, r.stderr);
  assert.match(r.stdout, /^switched web \d+ \d+\ncheck ok\n$/);
  assert.equal(readlinkSync(join(root, 'profiles', 'web')), 'web.d/2');
});

test('zstd frames of raw blocks, made without zstd, decode with zstd at every size class', () => {
  for (const size of [0, 1, 255, 256, 65_791, 65_792, 300_000]) {
    const data = randomBytes(size);
    const frame = zstdStoredFrame(data);
    const out = spawnSync('zstd', ['-dc'], { input: frame });
    assert.equal(out.status, 0, `${size}: ${out.stderr.toString()}`);
    assert.ok(out.stdout.equals(data), `size ${size}`);
  }
  const gz = spawnSync('gzip', ['-dc'], { input: smallMember('gzip', Buffer.from('x\n')) });
  assert.equal(gz.stdout.toString(), 'x\n');
});
